#!/usr/bin/env bash
# Start the services the backend tests need: a throw-away PostgreSQL server on 127.0.0.1.
#
# Usage (CI and developers):   eval "$(bash scripts/ci-services.sh)"
#   - installs the Debian package `postgresql` when its binaries are missing (apt-get, no prompts);
#   - creates a private cluster in $TRDPATH_PG_DIR (default /tmp/trdpath-pg) owned by the `postgres`
#     user, listening only on 127.0.0.1:$TRDPATH_PG_PORT (default 54329, away from a system server's 5432);
#   - creates the role and database `trdpath` (password `trdpath`) if they do not exist;
#   - prints `export TRDPATH_TEST_POSTGRES_URL=postgresql://trdpath:trdpath@127.0.0.1:PORT/trdpath`
#     on stdout (everything else goes to stderr), and writes the same line to $TRDPATH_PG_DIR/env.sh.
# Idempotent: a second run finds the server up and only prints the URL. Stop it with
#   bash scripts/ci-services.sh stop
# PySpark needs no service: the tests start a local[2] session (Java 17 must be installed).
set -euo pipefail

PG_DIR="${TRDPATH_PG_DIR:-/tmp/trdpath-pg}"
PG_PORT="${TRDPATH_PG_PORT:-54329}"
PG_USER_NAME="trdpath"
PG_DATABASE="trdpath"
DATA="$PG_DIR/data"
LOG="$PG_DIR/server.log"
URL="postgresql://${PG_USER_NAME}:${PG_USER_NAME}@127.0.0.1:${PG_PORT}/${PG_DATABASE}"

say() { echo "ci-services: $*" >&2; }

pg_bindir() {
    # The newest installed server version's binaries (Debian keeps them outside PATH).
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

as_postgres() {
    # The server refuses to run as root; run its tools as the `postgres` system user.
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

BIN="$(pg_bindir)"
if [ "${1:-start}" = "stop" ]; then
    if [ -n "$BIN" ] && [ -f "$DATA/postmaster.pid" ]; then
        as_postgres "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    fi
    say "stopped"
    exit 0
fi

if [ -z "$BIN" ]; then
    say "installing the Debian package postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    BIN="$(pg_bindir)"
    [ -n "$BIN" ] || { say "postgresql installed but no initdb found under /usr/lib/postgresql"; exit 1; }
fi

if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir "$PG_DIR" --shell /usr/sbin/nologin postgres
fi

mkdir -p "$PG_DIR"
if [ "$(id -u)" = "0" ]; then chown postgres "$PG_DIR"; fi

if [ ! -f "$DATA/PG_VERSION" ]; then
    say "creating a cluster in $DATA"
    # Local socket and 127.0.0.1 connections are trusted: a disposable test server, reachable only from here.
    as_postgres "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2 \
        || as_postgres "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
fi

if as_postgres "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    say "server already running on 127.0.0.1:$PG_PORT"
else
    # A stale pid file from a killed server would stop pg_ctl; it is safe to remove when nothing listens.
    if [ -f "$DATA/postmaster.pid" ] && ! as_postgres "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        rm -f "$DATA/postmaster.pid"
    fi
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >&2
fi

psql_admin() { as_postgres "$BIN/psql" -v ON_ERROR_STOP=1 -qtA -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

if [ "$(psql_admin -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER_NAME'")" != "1" ]; then
    psql_admin -d postgres -c "CREATE ROLE $PG_USER_NAME LOGIN PASSWORD '$PG_USER_NAME' CREATEDB" >&2
fi
if [ "$(psql_admin -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" != "1" ]; then
    psql_admin -d postgres -c "CREATE DATABASE $PG_DATABASE OWNER $PG_USER_NAME" >&2
fi

echo "export TRDPATH_TEST_POSTGRES_URL=$URL" > "$PG_DIR/env.sh"
say "ready: $URL"
echo "export TRDPATH_TEST_POSTGRES_URL=$URL"
