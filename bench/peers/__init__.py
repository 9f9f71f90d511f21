"""What a user would pick instead of this app, for the benchmark only (README, Performance).

Three ways of sending a private file that people write or install: a hand-written view (login
required, one permission query, FileResponse), django-sendfile2 with its nginx backend, and
django-downloadview with X-Accel-Redirect. Each checks the same grants in one query and answers
anyone else with a 404, so their rows measure a real check, not an open door.

Only the benchmark starts a gunicorn with `bench.peers.settings`; the app never imports this
package, and its packages are the optional `bench-peers` dependencies (pyproject.toml).
"""
