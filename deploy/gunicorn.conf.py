"""gunicorn configuration: the one `make run`, the tests and the benchmarks all start.

gthread workers: the worker's main thread keeps sending heartbeats while other threads serve, so
`timeout` never kills a long download (the sync worker's heartbeat stops during a request, and a
30 s timeout would cut a slow 2 GiB download). Whole files and single ranges leave via sendfile().
"""

import multiprocessing
import os
from typing import Any

from deploy.accesslog import BackgroundAccessLogger
from deploy.worker import Limits
from project.env import env_bool, env_choice, env_int, env_str

bind = env_str("GUNICORN_BIND", "127.0.0.1:8000")
# gthread, hardened against stalled clients (deploy/worker.py says how; its limits are read from
# the GUNICORN_HEADER_TIMEOUT, _BODY_TIMEOUT, _MIN_BODY_RATE, _BODY_BUFFER, _SEND_TIMEOUT,
# _WAITING_THREADS and _MAX_CLIENTS environment variables).
worker_class = "deploy.worker.StallProofWorker"
# Read here as well as in each worker, so that a bad value stops gunicorn as it starts.
Limits.from_environ()
# One worker more than cores. A worker runs Python on one core at a time (the GIL), and hands
# it between its threads and its main loop: with one worker per core, 6-7% of two cores sat
# idle at 64 and 256 clients (`make soak`, idle CPU), 1-2% with three. `make bench`, 2 -> 3
# workers: 1 KiB downloads through gunicorn 767 -> 1,179 req/s, 2.19 -> 1.61 ms CPU each.
workers = env_int("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1, minimum=1)
threads = env_int("GUNICORN_THREADS", 8, minimum=1)
# One listening socket per worker (SO_REUSEPORT; gunicorn then opens them in the workers): the
# kernel spreads new connections evenly over the workers. With one shared socket, whichever
# worker woke first took every connection of a burst (nginx's upstream connections, a load
# tester) and kept them while they stayed alive: one process, one core, the other idle (half
# the benchmark runs). Capping connections per worker (12) fixed that, but then connections
# beyond the 24 slots waited in the listen queue behind kept-alive ones, served again and
# again, so the slowest waits grew with the clients (README, Performance). A worker that dies
# takes the connections still queued on its socket with it (reset), unless the kernel migrates
# them (sysctl net.ipv4.tcp_migrate_req=1, Linux 5.14+). GUNICORN_REUSE_PORT=0 shares one socket.
reuse_port = env_bool("GUNICORN_REUSE_PORT", default=True)
# Requests one worker works on or holds ready for a thread; idle kept-alive connections and
# ones still sending their head are not counted (GUNICORN_MAX_CLIENTS caps those). A worker
# that stops accepting leaves its share of new connections waiting in its own socket's queue,
# so with reuse_port the default never stops it first; with one shared socket the old cap is
# the only balance there is.
worker_connections = env_int(
    "GUNICORN_WORKER_CONNECTIONS", 1000 if reuse_port else threads + threads // 2, minimum=1
)
# A worker silent this long is dead; with gthread a busy download thread does not silence it.
timeout = env_int("GUNICORN_TIMEOUT", 60, minimum=0)
# How long a stopping worker may finish its requests and write the download log before SIGKILL.
# worker_exit (below) takes up to the log writer's deadline, 10 s, plus one database statement's
# own 10 s timeout (downloads/logwriter.py): less would kill it with rows unwritten and unlogged.
GRACEFUL_TIMEOUT_MINIMUM = 20
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=GRACEFUL_TIMEOUT_MINIMUM)
keepalive = env_int("GUNICORN_KEEPALIVE", 15, minimum=0)
# `sendfile` is left unset on purpose: gunicorn reads ANY value of this setting, True included,
# as --no-sendfile (config.py: "if self.settings['sendfile'].get() is not None: return False"),
# and every download then left in 4 KiB send() calls. Unset, whole files and ranges go out with
# one sendfile() (tests/test_gunicorn_config.py).
# Heartbeat files in RAM: a slow disk must not make a busy worker look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# Off unless asked for (GUNICORN_ACCESSLOG=- for stdout; `make run` does): nginx or the load
# balancer keeps the request log and the app its download log. A third copy of every line is a
# visible share of a small download's CPU (README, Performance).
accesslog = env_str("GUNICORN_ACCESSLOG") or None
# Access lines written by a thread of each worker, not under a lock by every request thread
# (deploy/accesslog.py says what that cost at 256 clients). gunicorn turns to its statsd logger
# only from its default class: GUNICORN_CMD_ARGS="--logger-class simple --statsd-host HOST:PORT".
logger_class = "deploy.accesslog.BackgroundAccessLogger"
errorlog = "-"
loglevel = env_choice(
    "GUNICORN_LOGLEVEL", "info", ["debug", "info", "warning", "error", "critical"]
)
# Addresses whose X-Forwarded-* headers are believed (nginx on the same host by default).
forwarded_allow_ips = env_str("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
wsgi_app = "project.wsgi:application"


def worker_exit(server: Any, worker: Any) -> None:
    """The download log, before the worker exits: rows for downloads still being sent (as far
    as they got), then every queued row, within the writer's deadline (10 s), so it ends before
    graceful_timeout's SIGKILL. `atexit` would come later, if at all. The access log's writer
    writes its queued lines meanwhile, and gets a short wait of its own after."""
    from downloads.downloadlog import finish_open_bodies
    from downloads.logwriter import WRITER

    log = server.log
    # Another logger class when a deployer asked for gunicorn's statsd one.
    access_log = log if isinstance(log, BackgroundAccessLogger) else None
    if access_log:
        access_log.stop_access_log()
    finish_open_bodies()
    WRITER.stop()
    log.info("Download log written before worker %s exits", worker.pid)
    if access_log and not access_log.flush_access_log():
        unwritten = access_log.backlog
        log.error("Worker %s exits with %d access log lines unwritten", worker.pid, unwritten)
