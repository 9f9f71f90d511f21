"""The project's settings with another session engine and user backend, for bench.sessions_ab.

Only the benchmark starts gunicorn with this module: BENCH_SESSION_ENGINE and BENCH_USER_BACKEND
replace SESSION_ENGINE and the last entry of AUTHENTICATION_BACKENDS (the one that loads the
user on every request; django-axes' backend before it only counts logins).
"""

import os

from project.settings import *  # noqa: F403

SESSION_ENGINE = os.environ["BENCH_SESSION_ENGINE"]
AUTHENTICATION_BACKENDS = [
    *AUTHENTICATION_BACKENDS[:-1],  # noqa: F405
    os.environ["BENCH_USER_BACKEND"],
]
