#!/usr/bin/env bash
# The suite on the highest Django that pyproject.toml allows (CI's second run; `make test` runs
# the lowest: Python 3.11 cannot install Django 6, so the project's own venv always has 5.2).
# Django 6 needs Python 3.12, which Debian 12 does not package: it comes from pyenv (the machine
# image has it) or any python3.12 on PATH. No Python 3.12 is a failure, never a skip.
#   bash scripts/highest-django.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-highest-django

find_python312() {
    if python3.12 --version >/dev/null 2>&1; then
        command -v python3.12
        return
    fi
    if command -v pyenv >/dev/null 2>&1; then
        local version
        version="$(pyenv versions --bare | grep -E '^3\.12(\.[0-9]+)?$' | sort -V | tail -n 1 || true)"
        if [[ -n "$version" && -x "$(pyenv root)/versions/$version/bin/python3.12" ]]; then
            echo "$(pyenv root)/versions/$version/bin/python3.12"
            return
        fi
    fi
    echo "No Python 3.12 here (python3.12 on PATH, or pyenv's 3.12): the highest Django the" \
        "project allows needs it. Install one (e.g. 'pyenv install 3.12')." >&2
    return 1
}

if [[ ! -f "$VENV/.installed" || pyproject.toml -nt "$VENV/.installed" ]]; then
    python="$(find_python312)"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # --upgrade-strategy eager: the newest release of every dependency pyproject.toml allows.
    "$VENV/bin/python" -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[test,bench-peers]'
    touch "$VENV/.installed"
fi

# The point of this run: fail loudly if pip settled on something below Django 6.
"$VENV/bin/python" - <<'EOF'
import sys

import django

print(f"Highest Django allowed: Django {django.get_version()} on Python {sys.version.split()[0]}")
if django.VERSION[0] < 6:
    sys.exit("expected Django 6.x here: pyproject.toml allows it (Django>=5.2,<7)")
EOF
# tests/test_make_run.py runs `make run` in a clean environment with the checkout's own .venv
# (Django 5.2, SQLite): the very test `make test` runs, so it is not run twice.
TEST_SUITE_EXTRA_ARGS="--deselect tests/test_make_run.py" \
    bash scripts/test-suite.sh "$VENV/bin/python" "$@"
