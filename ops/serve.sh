#!/usr/bin/env bash
# Installs chainmail and runs the whole service (API, projections, delivery, SMTP; the indexer when chains are
# configured) on the embedded SQLite default (settings: CHAINMAIL_* or --config).
set -euo pipefail
cd "$(dirname "$0")/.."
ops/bootstrap.sh
exec .venv/bin/chainmail up "$@"
