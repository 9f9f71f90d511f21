# The two promises: `make run` sets up and serves the app with demo data; `make test` sets up and
# passes the suite. Both work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export DJANGO_SETTINGS_MODULE := project.settings

.PHONY: run run-asgi test test-postgres lint setup system-deps bench bench-admin soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev,bench-peers]'
	touch $(STAMP)

.secret_key:
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# The demo users' password: DEMO_PASSWORD when set, else the one kept in .demo_password, else a
# new one; `manage.py demo` keeps the password it creates them with in .demo_password.
setup: $(STAMP) .secret_key
	DJANGO_SECRET_KEY="$$(cat .secret_key)" $(PY) manage.py migrate --noinput
	DJANGO_SECRET_KEY="$$(cat .secret_key)" $(PY) manage.py collectstatic --noinput --verbosity 0
	DJANGO_SECRET_KEY="$$(cat .secret_key)" $(PY) manage.py demo --password-file .demo_password \
		--share-link-file .demo_share_link

run: setup
	@echo
	@echo "  Protected downloads: http://$${GUNICORN_BIND:-127.0.0.1:8000}/"
	@echo "  Log in as alice, bob, uploader (uploads from My files) or admin (staff) with password: $$(cat .demo_password)"
	@echo "  Admin: http://$${GUNICORN_BIND:-127.0.0.1:8000}/admin/"
	@echo "  A share link to alice's video, no login needed: http://$${GUNICORN_BIND:-127.0.0.1:8000}/s/$$(cat .demo_share_link)"
	@echo
	DJANGO_SECRET_KEY="$$(cat .secret_key)" GUNICORN_ACCESSLOG=- exec $(VENV)/bin/gunicorn -c deploy/gunicorn.conf.py

# The same app under ASGI: uvicorn with project.asgi (README, "Under ASGI"); UVICORN_ARGS adds
# uvicorn's own options, e.g. UVICORN_ARGS="--workers 2".
run-asgi: setup
	@echo
	@echo "  Protected downloads under uvicorn: http://127.0.0.1:$${UVICORN_PORT:-8000}/"
	@echo "  Log in as alice, bob, uploader or admin (staff) with password: $$(cat .demo_password)"
	@echo "  A share link to alice's video, no login needed: http://127.0.0.1:$${UVICORN_PORT:-8000}/s/$$(cat .demo_share_link)"
	@echo
	DJANGO_SECRET_KEY="$$(cat .secret_key)" exec $(PY) -m uvicorn project.asgi:application \
		--host 127.0.0.1 --port $${UVICORN_PORT:-8000} --lifespan off $(UVICORN_ARGS)

system-deps:
	bash scripts/system-deps.sh

# The suite runs on tests/settings.py (pyproject.toml); the project.settings exported above, for
# manage.py, would otherwise take precedence and ask for a secret key.
test: $(STAMP) system-deps
	bash scripts/test-suite.sh $(PY)

# The same suite on a throwaway PostgreSQL cluster (DATABASE_URL set by scripts/postgres.sh).
test-postgres: $(STAMP) system-deps
	bash scripts/postgres.sh run bash scripts/test-suite.sh $(PY)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=tests.settings $(VENV)/bin/mypy --explicit-package-bases downloads project deploy harness

bench: $(STAMP) system-deps
	$(PY) -m bench

# The admin and a heavy user's pages at 10M log rows (PostgreSQL, with DATABASE_URL) or 1M
# (SQLite); e.g. BENCH_ADMIN_ARGS="--log-rows 200000" for a quick look (README, Performance).
bench-admin: $(STAMP) system-deps
	$(PY) -m bench.admin $(BENCH_ADMIN_ARGS)

# Many clients at once through every arrangement (README, "Soak"); SOAK_SECONDS=10 SOAK_ROUNDS=2 for a quick look.
soak: $(STAMP) system-deps
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 .pytest_cache .ruff_cache
