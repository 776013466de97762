#!/usr/bin/env bash
# Set up (if needed) and start the standalone server with the official frontend on 127.0.0.1:8188.
# Extra arguments go to `toucan-nb serve` (ComfyUI's launch flags are accepted).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/toucan-nb serve "$@"
