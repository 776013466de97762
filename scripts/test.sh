#!/usr/bin/env bash
# Set up (if needed) and run every check CI runs: ruff, mypy, the widget's JS tests, and pytest
# (unit, protocol, Jupyter, browser tests and the example notebooks). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then
  # Browser tests drive Debian's chromium (browser downloads do not work offline).
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check .
.venv/bin/mypy  # files and settings: [tool.mypy] in pyproject.toml
if [ -f js/package.json ]; then
  (cd js && npm ci --silent --no-audit --no-fund && npm test --silent)
fi
exec .venv/bin/python -m pytest "$@"
