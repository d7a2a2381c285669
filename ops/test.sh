#!/usr/bin/env bash
# Installs the test dependencies and runs the whole suite, on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/bootstrap.sh test
exec .venv/bin/python -m pytest -n auto -q -p no:cacheprovider "$@"
