#!/usr/bin/env bash
# The real llama.cpp engine for the tests and benchmarks, through codex-wrap's own
# provisioning (`codex-wrap engine`): one way to build llama-server, not two.
#
#   scripts/llama-server.sh build            # `codex-wrap engine build`: build llama-server
#                                            # and fetch SmolLM2 once; prints the binary's path
#   scripts/llama-server.sh path             # the built binary's path (exit 1 if not built)
#   scripts/llama-server.sh model OUT.gguf   # write the tiny test model (scripts/tiny-gguf.py)
#   scripts/llama-server.sh start MODEL [PORT]
#       `codex-wrap engine up` with a private state directory: starts llama-server in the
#       background on 127.0.0.1 (a free port unless given), waits for /health, prints
#       "OPENAI_BASE_URL=http://127.0.0.1:PORT/v1  # pid N"; stop it with `kill N`
#
# codex-wrap itself: $CODEX_WRAP_BIN, else `cargo run` in this checkout. The engine's cache
# is codex-wrap's ($CODEX_WRAP_ENGINE_CACHE, default ~/.cache/codex-wrap/engine); the first
# build takes 10-20 minutes on 2 cores, later runs are instant.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"

wrap() {
  if [ -n "${CODEX_WRAP_BIN:-}" ]; then
    "$CODEX_WRAP_BIN" "$@"
  else
    cargo run --quiet --locked --manifest-path "$here/Cargo.toml" --bin codex-wrap -- "$@"
  fi
}

# A field of `codex-wrap engine status --json` (empty when absent).
field() {
  python3 -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"
}

case "${1:-build}" in
  build) wrap engine build ;;
  path)
    bin="$(wrap engine status --json | field binary || true)"
    [ -n "$bin" ] && [ -x "$bin" ] && echo "$bin"
    ;;
  model)
    # The tiny deterministic test model needs the gguf writer: a venv of its own.
    py="${CODEX_WRAP_TEST_CACHE:-$HOME/.cache/codex-wrap-test}/gguf-venv"
    if ! "$py/bin/python" -c "import gguf, numpy" 2>/dev/null; then
      python3 -m venv "$py"
      "$py/bin/pip" install --quiet --disable-pip-version-check gguf numpy
    fi
    "$py/bin/python" "$here/scripts/tiny-gguf.py" "${2:?usage: $0 model OUT.gguf}"
    ;;
  start)
    model="${2:?usage: $0 start MODEL [PORT]}"
    # A private state directory: this server is the caller's, not the user's engine.
    state="$(mktemp -d)"
    export XDG_STATE_HOME="$state"
    url="$(wrap engine up --model "$model" ${3:+--port "$3"})"
    pid="$(wrap engine status --json | field pid)"
    echo "OPENAI_BASE_URL=$url  # pid $pid"
    ;;
  *) echo "usage: $0 build|path|model OUT.gguf|start MODEL [PORT]" >&2; exit 2 ;;
esac
