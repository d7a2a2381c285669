#!/usr/bin/env bash
# Installs what chainmail needs on this machine: a virtualenv with the package (and, with `test`,
# the test dependencies), the npm tools, and a running PostgreSQL for the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=${1:-}
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "$want_tests" = "test" ]; then
  .venv/bin/python -m pip install --quiet -e '.[test]'
else
  .venv/bin/python -m pip install --quiet -e .
fi

# The npm tools (anvil, solc, WildDuck's test suite) are for the tests and benchmarks only.
if [ "$want_tests" = "test" ] && [ -f package.json ]; then
  if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; else npm install --silent --no-audit --no-fund; fi
fi

if [ "$want_tests" = "test" ]; then
  ops/postgres.sh
fi
