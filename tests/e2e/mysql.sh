# shellcheck shell=bash
# A throwaway MariaDB server for end-to-end tests. Source it after lib.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/mysql.sh"
#   start_mysql         # exports MYSQL_HOST (127.0.0.1), MYSQL_PORT, MYSQL_USER (root), MYSQL_PID,
#                       # MYSQL_DIR, MYSQL_LOG, MYSQL_SOCK, MYSQL_CLIENT (mariadb or mysql)
#   mysql_client "$MYSQL_PORT" -N -e 'SELECT 1'
#
# The server (mariadbd, InnoDB, max_allowed_packet 64M, no fsync at commit) is initialised by
# mariadb-install-db in a temp dir of its own, listens on 127.0.0.1 only (plus a Unix socket
# inside that dir), reads no option file (--no-defaults: /etc/mysql is ignored, and so is the
# Debian package's own service, which the test never touches), and runs in the foreground as a
# child of the test. root@127.0.0.1 has no
# password (--auth-root-authentication-method=normal). It is stopped by its pid (SIGTERM, bounded,
# then SIGKILL) and its directory removed on exit, whatever the exit path. A missing MariaDB is a
# failure, not a skip: CI installs it (scripts/bootstrap.sh: mariadb-server, mariadb-client).
#
# As root, mariadbd runs with --user=root (it refuses root without it); otherwise as the caller.

MYSQL_DIR=""
MYSQL_LOG=""
MYSQL_PID=""
_MYSQL_STARTED=0

# mysql_client PORT ARGS...: the command-line client against 127.0.0.1:PORT as root, reading no
# option file, bounded (30 s, then SIGKILL 2 s later). Every other argument is the caller's.
mysql_client() {
  local port=$1
  shift
  timeout -k 2 30 "$MYSQL_CLIENT" --no-defaults --connect-timeout=5 -h 127.0.0.1 -P "$port" -u root "$@"
}

# _mysql_find BIN...: prints the first of these commands found (in PATH or /usr/sbin).
_mysql_find() {
  local b
  for b in "$@"; do
    if command -v "$b" >/dev/null 2>&1; then
      command -v "$b"
      return 0
    fi
    if [[ -x "/usr/sbin/$b" ]]; then
      printf '%s\n' "/usr/sbin/$b"
      return 0
    fi
  done
  return 1
}

# stop_mysql: SIGTERM to mariadbd, wait at most 10 s, then SIGKILL; removes the directory.
# Safe to call more than once.
stop_mysql() {
  local pid=${MYSQL_PID:-} i
  if ((_MYSQL_STARTED)) && [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do # 100 x 0.1 s = 10 s
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "mariadbd (pid $pid) did not stop: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  fi
  _MYSQL_STARTED=0
  MYSQL_PID=""
  if [[ -n "$MYSQL_DIR" && -d "$MYSQL_DIR" ]]; then
    rm -rf -- "$MYSQL_DIR"
  fi
}

# Runs before lib.sh's own exit handler (which kills tracked pids and removes temp dirs), and
# hands it the original exit status.
_mysql_on_exit() {
  local rc=$?
  stop_mysql
  (exit "$rc")
  e2e_on_exit
}
trap _mysql_on_exit EXIT

# start_mysql: mariadb-install-db, then mariadbd on a free loopback port (up to 3 tries when the
# port is taken in between); waits (max 30 s a try) until root can run SELECT 1 over TCP.
start_mysql() {
  local server install attempt port pid i user_args=()
  server=$(_mysql_find mariadbd mysqld) ||
    die "MariaDB server not found (mariadbd/mysqld): install the 'mariadb-server' package (scripts/bootstrap.sh does)"
  install=$(_mysql_find mariadb-install-db mysql_install_db) ||
    die "mariadb-install-db not found: install the 'mariadb-server' package (scripts/bootstrap.sh does)"
  MYSQL_CLIENT=$(_mysql_find mariadb mysql) ||
    die "the mariadb/mysql client not found: install the 'mariadb-client' package (scripts/bootstrap.sh does)"
  (($(id -u) == 0)) && user_args=(--user=root)

  MYSQL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/brownout-mysql.XXXXXX") || die "mktemp failed"
  MYSQL_LOG="$MYSQL_DIR/mariadb.log"
  MYSQL_SOCK="$MYSQL_DIR/sock"
  ((${#MYSQL_SOCK} < 100)) || die "socket path too long for a Unix socket: $MYSQL_SOCK (set a shorter TMPDIR)"
  mkdir "$MYSQL_DIR/tmp"
  MYSQL_HOST=127.0.0.1
  MYSQL_USER=root
  export MYSQL_HOST MYSQL_USER MYSQL_DIR MYSQL_LOG MYSQL_SOCK MYSQL_CLIENT

  # Throwaway data: no durability (no fsync at commit, no doublewrite), small buffers.
  local tuning=(--skip-name-resolve --innodb-buffer-pool-size=32M --innodb-log-file-size=8M
    --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0)
  timeout -k 5 90 "$install" --no-defaults --datadir="$MYSQL_DIR/data" "${user_args[@]}" \
    --auth-root-authentication-method=normal --skip-test-db "${tuning[@]}" >>"$MYSQL_LOG" 2>&1 ||
    die "mariadb-install-db failed: $(tail -n 20 "$MYSQL_LOG")"

  for ((attempt = 1; attempt <= 3; attempt++)); do
    port=$(free_port) || die "free_port failed"
    "$server" --no-defaults "${user_args[@]}" --datadir="$MYSQL_DIR/data" --socket="$MYSQL_SOCK" \
      --port="$port" --bind-address=127.0.0.1 --pid-file="$MYSQL_DIR/mariadbd.pid" \
      --tmpdir="$MYSQL_DIR/tmp" --log-error="$MYSQL_LOG" --max-connections=100 \
      --max-allowed-packet=64M --skip-log-bin "${tuning[@]}" >>"$MYSQL_LOG" 2>&1 </dev/null &
    pid=$!
    _MYSQL_STARTED=1
    MYSQL_PID=$pid
    e2e_track_pid "$pid"
    for ((i = 0; i < 150; i++)); do # 150 x (0.2 s + the probe) >= 30 s
      kill -0 "$pid" 2>/dev/null || break
      if [[ "$(timeout -k 1 3 "$MYSQL_CLIENT" --no-defaults --connect-timeout=1 -h 127.0.0.1 -P "$port" -u root \
        -N -B -e 'SELECT 1' 2>/dev/null </dev/null)" == 1 ]]; then
        MYSQL_PORT=$port
        export MYSQL_PORT MYSQL_PID
        echo "mariadb pid $MYSQL_PID on 127.0.0.1:$MYSQL_PORT ($("$server" --no-defaults --version 2>/dev/null | awk '{print $3}'), data in $MYSQL_DIR/data)"
        return 0
      fi
      sleep 0.2
    done
    echo "mariadbd did not answer on port $port (attempt $attempt): $(tail -n 5 "$MYSQL_LOG")" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    MYSQL_PID=""
    _MYSQL_STARTED=0
    rm -f "$MYSQL_DIR/mariadbd.pid" "$MYSQL_SOCK"
  done
  die "mariadb failed to start: $(tail -n 20 "$MYSQL_LOG")"
}
