#!/usr/bin/env bash
# The official MCP SDKs for the tests that drive `codex-wrap mcp` with real, independent
# clients: Python (PyPI `mcp`) in a cached virtual environment, TypeScript (npm
# `@modelcontextprotocol/sdk`) in a cached node_modules.
#
#   scripts/mcp-client.sh python     # install once if needed; print the venv's python
#   scripts/mcp-client.sh node       # install once if needed; print the node_modules path
#   scripts/mcp-client.sh clients    # the real assistants' CLIs from npm (Claude Code, Codex,
#                                    # Gemini CLI), pinned; print their bin folder
#
# Cache: $CODEX_WRAP_TEST_CACHE (default ~/.cache/codex-wrap-test)/mcp-venv, /mcp-ts, /npm.
set -euo pipefail

cache="${CODEX_WRAP_TEST_CACHE:-$HOME/.cache/codex-wrap-test}"
venv="$cache/mcp-venv"
version="2.3.0"
ts_dir="$cache/mcp-ts"
ts_version="1.32.2"
clients_dir="$cache/npm"
clients="@anthropic-ai/claude-code@2.1.337 @openai/codex@0.171.0 @google/gemini-cli@0.61.0"

case "${1:-python}" in
  python)
    if ! "$venv/bin/python" -c "import mcp, importlib.metadata as m; assert m.version('mcp') == '$version'" 2>/dev/null; then
      mkdir -p "$cache"
      python3 -m venv "$venv" >&2
      "$venv/bin/pip" install --quiet --disable-pip-version-check "mcp==$version" >&2
    fi
    echo "$venv/bin/python"
    ;;
  node)
    if [ ! -f "$ts_dir/node_modules/@modelcontextprotocol/sdk/package.json" ] ||
      ! grep -q "\"version\": \"$ts_version\"" "$ts_dir/node_modules/@modelcontextprotocol/sdk/package.json"; then
      mkdir -p "$ts_dir"
      (cd "$ts_dir" && [ -f package.json ] || echo '{"private": true}' > package.json)
      npm install --prefix "$ts_dir" --silent --no-audit --no-fund "@modelcontextprotocol/sdk@$ts_version" >&2
    fi
    echo "$ts_dir/node_modules"
    ;;
  clients)
    missing=0
    for spec in $clients; do
      name="${spec%@*}"
      want="${spec##*@}"
      pkg="$clients_dir/node_modules/$name/package.json"
      if [ ! -f "$pkg" ] || ! grep -q "\"version\": \"$want\"" "$pkg"; then missing=1; fi
    done
    if [ "$missing" = 1 ]; then
      mkdir -p "$clients_dir"
      (cd "$clients_dir" && [ -f package.json ] || echo '{"private": true}' > package.json)
      # shellcheck disable=SC2086
      npm install --prefix "$clients_dir" --silent --no-audit --no-fund $clients >&2
    fi
    echo "$clients_dir/node_modules/.bin"
    ;;
  *)
    echo "usage: $0 python|node|clients" >&2
    exit 2
    ;;
esac
