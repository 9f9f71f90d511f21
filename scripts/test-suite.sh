#!/usr/bin/env bash
# The whole suite with one Python, as `make test`, `make test-postgres` and CI run it:
#   bash scripts/test-suite.sh PYTHON [pytest arguments]
# With no arguments, in two parts: the tests that talk to no server, spread over TEST_WORKERS
# processes (pytest-xdist; default 2, one per core here), then the integration tests one at a
# time, alone on the machine, since their servers, memory bounds and deadlines assume they are.
# With arguments, one pytest run with exactly those arguments.
set -euo pipefail
python="$1"
shift
export DJANGO_SETTINGS_MODULE=tests.settings
if [[ $# -gt 0 ]]; then
    exec "$python" -m pytest "$@"
fi
"$python" -m pytest -m "not integration" -n "${TEST_WORKERS:-2}"
"$python" -m pytest -m integration ${TEST_SUITE_EXTRA_ARGS:-}
