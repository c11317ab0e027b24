# shellcheck shell=bash
# A throwaway PostgreSQL server for end-to-end tests. Source it after lib.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
#   start_postgres      # exports PG_BIN, PG_HOST (127.0.0.1), PG_PORT, PG_USER, PG_DIR, PG_LOG
#   "$PG_BIN/psql" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -c 'SELECT 1'
#
# The server listens on 127.0.0.1 only (plus a Unix socket inside its own temp dir), trusts every
# local connection, and runs with fsync off. It is stopped (pg_ctl stop -m immediate, bounded,
# then SIGKILL of the postmaster by its pid) and its directory removed on exit, whatever the
# exit path. A missing PostgreSQL is a failure, not a skip: CI installs it (scripts/bootstrap.sh).
#
# PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the `postgres` user.

PG_DIR=""
PG_LOG=""
PG_USER=postgres
_PG_STARTED=0

# find_pg_bin: prints the bin dir of the highest installed PostgreSQL (or $PG_BIN if set and
# usable). Fails when there is none.
find_pg_bin() {
  local d best=""
  if [[ -n "${PG_BIN:-}" && -x "${PG_BIN}/pg_ctl" ]]; then
    printf '%s\n' "$PG_BIN"
    return 0
  fi
  best=$(
    for d in /usr/lib/postgresql/*/bin; do
      [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" && -x "$d/pgbench" ]] && printf '%s\n' "$d"
    done | sort -V | tail -n 1
  )
  [[ -n "$best" ]] || return 1
  printf '%s\n' "$best"
}

# _pg_run SECS CMD...: runs CMD as the user that owns the cluster (postgres when we are root),
# killed after SECS seconds.
_pg_run() {
  local secs=$1
  shift
  if (($(id -u) == 0)); then
    runuser -u postgres -- timeout -k 5 "$secs" "$@"
  else
    timeout -k 5 "$secs" "$@"
  fi
}

# _pg_postmaster_pid: pid of the running postmaster (first line of postmaster.pid), or nothing.
_pg_postmaster_pid() {
  local f="$PG_DIR/data/postmaster.pid" pid
  [[ -r "$f" ]] || return 1
  pid=$(head -n 1 "$f" 2>/dev/null)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$pid"
}

# stop_postgres: immediate shutdown, bounded (pg_ctl waits at most 10 s, itself under a 15 s
# timeout); if the postmaster is still there, SIGKILL by its pid. Then removes the directory.
# Safe to call more than once.
stop_postgres() {
  local pid i
  if ((_PG_STARTED)) && [[ -n "$PG_DIR" && -d "$PG_DIR/data" ]]; then
    pid=$(_pg_postmaster_pid) || pid=""
    _pg_run 15 "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m immediate -w -t 10 >>"$PG_LOG" 2>&1 || true
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      for ((i = 0; i < 30; i++)); do # 3 s more
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        echo "postgres (pid $pid) did not stop: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
  fi
  _PG_STARTED=0
  if [[ -n "$PG_DIR" && -d "$PG_DIR" ]]; then
    rm -rf -- "$PG_DIR"
  fi
}

# Runs before lib.sh's own exit handler (which kills tracked pids and removes temp dirs), and
# hands it the original exit status.
_pg_on_exit() {
  local rc=$?
  stop_postgres
  (exit "$rc")
  e2e_on_exit
}
trap _pg_on_exit EXIT

# start_postgres: initdb + pg_ctl start on a free loopback port (up to 3 tries when the port is
# taken in between). Exports PG_BIN, PG_HOST, PG_PORT, PG_USER, PG_DIR, PG_LOG.
start_postgres() {
  local attempt port base
  PG_BIN=$(find_pg_bin) || die "PostgreSQL not found (no /usr/lib/postgresql/*/bin with initdb, pg_ctl, postgres, pgbench): install the 'postgresql' package (scripts/bootstrap.sh does)"
  if (($(id -u) == 0)); then
    getent passwd postgres >/dev/null || die "running as root but there is no 'postgres' user to run PostgreSQL as"
    command -v runuser >/dev/null || die "running as root and runuser is missing"
  fi
  # Not inside $E2E_TMP: that one is private to us (0700) and the postgres user must enter this.
  base=${TMPDIR:-/tmp}
  PG_DIR=$(mktemp -d "$base/brownout-pg.XXXXXX") || die "mktemp failed in $base"
  chmod 0755 "$PG_DIR"
  (($(id -u) == 0)) && chown postgres: "$PG_DIR"
  _pg_run 10 test -w "$PG_DIR" || die "the postgres user cannot write $PG_DIR (TMPDIR=$base)"
  PG_LOG="$PG_DIR/postgres.log"
  _pg_run 10 touch "$PG_LOG"
  PG_HOST=127.0.0.1
  export PG_BIN PG_HOST PG_USER PG_DIR PG_LOG

  _pg_run 120 "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" -A trust -E UTF8 --no-locale --no-sync \
    >>"$PG_LOG" 2>&1 || die "initdb failed: $(tail -n 20 "$PG_LOG")"
  _pg_run 10 tee -a "$PG_DIR/data/postgresql.conf" >/dev/null <<CONF

# brownout e2e: loopback only, throwaway data
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 20
shared_buffers = 16MB
log_min_messages = warning
CONF

  for ((attempt = 1; attempt <= 3; attempt++)); do
    port=$(free_port) || die "free_port failed"
    _PG_STARTED=1
    # -w -t 30: pg_ctl waits (at most 30 s) until the server accepts connections.
    if _pg_run 45 "$PG_BIN/pg_ctl" start -D "$PG_DIR/data" -l "$PG_LOG" -w -t 30 -o "-p $port" >/dev/null 2>&1; then
      if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5; then
        PG_PORT=$port
        export PG_PORT
        echo "postgres pid $(_pg_postmaster_pid) on 127.0.0.1:$PG_PORT ($PG_BIN, data in $PG_DIR/data)"
        return 0
      fi
    fi
    echo "postgres did not start on port $port (attempt $attempt): $(tail -n 5 "$PG_LOG")" >&2
    # Whatever half-started, stop it before the next try (keeps the data directory).
    _pg_run 15 "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m immediate -w -t 10 >>"$PG_LOG" 2>&1 || true
  done
  die "postgres failed to start: $(tail -n 20 "$PG_LOG")"
}
