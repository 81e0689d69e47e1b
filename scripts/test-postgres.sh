#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 server on 127.0.0.1 for the Postgres queue tests and prints the line to
# export. `scripts/test-postgres.sh stop` stops it and deletes its data.
#
#   eval "$(scripts/test-postgres.sh)"      # sets TEST_DATABASE_URL
#   cargo nextest run --test it -E 'test(/^queue::postgres/)'
#   scripts/test-postgres.sh stop
#
# Settings (environment): PG_TEST_DIR (default /tmp/metagpt-bot-pg), PG_TEST_PORT (default 55432).
# Uses Debian's binaries in /usr/lib/postgresql/15/bin (installs postgresql-15 with apt-get if absent).
# initdb refuses to run as root, so the server runs as the `postgres` user when started by root.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
DIR=${PG_TEST_DIR:-/tmp/metagpt-bot-pg}
PORT=${PG_TEST_PORT:-55432}
DATA=$DIR/data

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-start}" = stop ]; then
    if [ -f "$DATA/postmaster.pid" ]; then as_owner "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2; fi
    rm -rf "$DIR"
    exit 0
fi

if [ ! -x "$PG_BIN/initdb" ]; then
    echo "installing postgresql-15 (Debian package) ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 >&2
fi

if [ -f "$DATA/postmaster.pid" ] && as_owner "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "already running in $DATA" >&2
else
    rm -rf "$DIR"
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$DIR"; fi
    as_owner "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
    # Loopback only, trust auth, and durability traded for speed: this server is thrown away.
    as_owner "$PG_BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w \
        -o "-k $DIR -p $PORT -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >&2
fi

echo "export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/postgres"
