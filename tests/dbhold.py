"""A real stuck or absent database, for the download log writer's tests.

`held_database()` holds the download log table from another connection, so a writer's INSERT
waits: SQLite's write lock (BEGIN IMMEDIATE), or PostgreSQL's EXCLUSIVE lock on the table (reads
go on; INSERTs wait). `database_outage()` makes the database unreachable: PostgreSQL's server
is stopped and started again (pg_ctl); SQLite has no server, so its outage is the same write
lock, held for as long.
"""

import os
import shlex
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection

from downloads.models import DownloadLog


@contextmanager
def held_database() -> Iterator[None]:
    if connection.vendor == "sqlite":
        holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    # A connection of its own, outside the pool (project/database.py), in a transaction.
    raw: Any = connection.Database.connect(**connection.get_connection_params())
    try:
        with raw.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {DownloadLog._meta.db_table} IN EXCLUSIVE MODE")
        yield
    finally:
        raw.rollback()
        raw.close()


@contextmanager
def database_outage() -> Iterator[None]:
    if connection.vendor == "sqlite":
        with held_database():
            yield
        return
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # The server is every xdist worker's: stopping it fails the other worker's tests.
        raise RuntimeError(
            "a PostgreSQL outage stops the suite's server: mark the test integration"
        )
    server = PostgresServer.of_this_connection()
    connection.close()
    server.stop()
    try:
        yield
    finally:
        server.start()
        connection.close()


class PostgresServer:
    """The running test cluster (scripts/postgres.sh), stopped and started with its own options."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        # The server's command line as it was started: pg_ctl start needs the same options.
        words = shlex.split((data_dir / "postmaster.opts").read_text())
        options = words[1:]
        if "-D" in options:
            at = options.index("-D")
            del options[at : at + 2]
        self.options = " ".join(shlex.quote(word) for word in options)
        self.bin_dir = Path(words[0]).parent

    @classmethod
    def of_this_connection(cls) -> "PostgresServer":
        with connection.cursor() as cursor:
            cursor.execute("SHOW data_directory")
            (data_dir,) = cursor.fetchone()
        return cls(Path(data_dir))

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bin_dir / "pg_ctl"), "--pgdata", str(self.data_dir), "--wait", *args]
        if _is_root():
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        self._pg_ctl("--mode=fast", "stop")

    def start(self) -> None:
        log = self.data_dir.parent / "server-restarted.log"
        self._pg_ctl(f"--log={log}", f"--options={self.options}", "start")


def _is_root() -> bool:
    return os.geteuid() == 0
