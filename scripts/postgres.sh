#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite (Debian's `postgresql` package).
#
#   scripts/postgres.sh run CMD [ARGS...]   start a cluster, run CMD with DATABASE_URL set,
#                                           then stop the cluster and delete it
#   scripts/postgres.sh start DIR           start a cluster in DIR; print its DATABASE_URL
#   scripts/postgres.sh stop DIR            stop that cluster and delete DIR
#
# The cluster listens on 127.0.0.1 only (a free port, or $PGPORT_TEST), trusts every local
# connection, and skips fsync: it holds nothing worth keeping. As root, the server runs as the
# `postgres` user, since PostgreSQL refuses to run as root.
set -euo pipefail

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
DB_NAME=${PG_DB_NAME:-protected_downloads}

if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    echo "PostgreSQL server binaries not found; install the 'postgresql' package" \
        "(scripts/system-deps.sh) or set PG_BIN." >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local dir=$1 port=${PGPORT_TEST:-$(free_port)}
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    as_owner "$PG_BIN/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log"
    as_owner "$PG_BIN/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
        --options="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
    as_owner "$PG_BIN/createdb" --host=127.0.0.1 --port="$port" --username=postgres "$DB_NAME"
    echo "postgres://postgres@127.0.0.1:$port/$DB_NAME"
}

stop() {
    local dir=$1
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$PG_BIN/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null
    fi
    rm -rf "$dir"
}

run() {
    local url
    # Global: the EXIT trap runs after this function has returned.
    CLUSTER_DIR=$(mktemp -d -t protected-downloads-pg.XXXXXX)
    trap 'stop "$CLUSTER_DIR"' EXIT
    url=$(start "$CLUSTER_DIR")
    echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') at $url" >&2
    DATABASE_URL=$url "$@"
}

case "${1:-}" in
    run) shift; [ $# -gt 0 ] || { echo "usage: $0 run CMD [ARGS...]" >&2; exit 2; }; run "$@" ;;
    start) [ $# -eq 2 ] || { echo "usage: $0 start DIR" >&2; exit 2; }; start "$2" ;;
    stop) [ $# -eq 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
