#!/usr/bin/env bash
# Installs chainmail and serves it on the embedded SQLite default (settings: CHAINMAIL_* or --config).
set -euo pipefail
cd "$(dirname "$0")/.."
ops/bootstrap.sh
exec .venv/bin/chainmail serve --migrate "$@"
