#!/usr/bin/env bash
# Set up (idempotent) and run the whole system on the bundled data. Extra arguments go to `facefleet demo`
# (for example --people DIR, --duration SECONDS). Ctrl-C ends it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
FACEFLEET_SETUP_BROWSER=0 bash scripts/setup.sh
exec .venv/bin/python -m tooling demo "$@"
