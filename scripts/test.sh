#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite on SQLite, then the hub and system tests again on a
# PostgreSQL server the tests start themselves. Extra arguments go to one pytest run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TQDM_DISABLE=1
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest -q "$@"
fi
.venv/bin/python -m pytest -q
echo "== the hub and system tests on PostgreSQL"
.venv/bin/python -m pytest -q tests/hub tests/system --hub-db postgresql
