#!/usr/bin/env bash
# The official MCP Python SDK (PyPI `mcp`) in a cached virtual environment, for the tests
# that drive `codex-wrap mcp` with a real, independent client.
#
#   scripts/mcp-client.sh python     # install once if needed; print the venv's python
#
# Cache: $CODEX_WRAP_TEST_CACHE (default ~/.cache/codex-wrap-test)/mcp-venv.
set -euo pipefail

cache="${CODEX_WRAP_TEST_CACHE:-$HOME/.cache/codex-wrap-test}"
venv="$cache/mcp-venv"
version="2.3.0"

case "${1:-python}" in
  python)
    if ! "$venv/bin/python" -c "import mcp, importlib.metadata as m; assert m.version('mcp') == '$version'" 2>/dev/null; then
      mkdir -p "$cache"
      python3 -m venv "$venv" >&2
      "$venv/bin/pip" install --quiet --disable-pip-version-check "mcp==$version" >&2
    fi
    echo "$venv/bin/python"
    ;;
  *)
    echo "usage: $0 python" >&2
    exit 2
    ;;
esac
