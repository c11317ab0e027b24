# shellcheck shell=bash
# A throwaway Redis server for end-to-end tests. Source it after lib.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/redis.sh"
#   start_redis         # exports REDIS_PORT, REDIS_PID, REDIS_DIR, REDIS_LOG
#   redis_cli "$REDIS_PORT" ping      # PONG
#
# The server listens on 127.0.0.1 only, keeps nothing on disk (no RDB snapshots, no AOF; its
# working directory is a temp dir removed on exit) and runs in the foreground as a child of the
# test, so lib.sh's cleanup stops it by its pid (SIGTERM, then SIGKILL) whatever the exit path.
# A missing redis-server or redis-cli is a failure, not a skip: CI installs them
# (scripts/bootstrap.sh: redis-server, redis-tools).

# redis_cli PORT ARGS...: redis-cli against 127.0.0.1:PORT, bounded (5 s, then SIGKILL 2 s later).
redis_cli() {
  local port=$1
  shift
  timeout -k 2 5 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# redis_ping PORT: true when PING on 127.0.0.1:PORT answers PONG.
redis_ping() {
  [[ "$(redis_cli "$1" ping 2>/dev/null)" == PONG ]]
}

# start_redis: a redis-server on a free loopback port; waits (max 10 s) until it answers PING.
start_redis() {
  command -v redis-server >/dev/null || die "redis-server not found (Debian: apt-get install redis-server)"
  command -v redis-cli >/dev/null || die "redis-cli not found (Debian: apt-get install redis-tools)"
  local attempt port pid i
  REDIS_DIR=$(e2e_mktemp_dir) || die "mktemp failed"
  REDIS_LOG="$REDIS_DIR/redis.log"
  export REDIS_DIR REDIS_LOG
  # A free port can be taken between the probe and the bind: retry a few times.
  for ((attempt = 1; attempt <= 3; attempt++)); do
    port=$(free_port) || die "free_port failed"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$REDIS_DIR" \
      --daemonize no --logfile '' --loglevel warning >>"$REDIS_LOG" 2>&1 &
    pid=$!
    e2e_track_pid "$pid"
    for ((i = 0; i < 100; i++)); do # 100 x 0.1 s = 10 s
      kill -0 "$pid" 2>/dev/null || break
      if redis_ping "$port"; then
        REDIS_PORT=$port
        REDIS_PID=$pid
        export REDIS_PORT REDIS_PID
        echo "redis pid $REDIS_PID on 127.0.0.1:$REDIS_PORT ($(redis-server --version | awk '{print $3}'), dir $REDIS_DIR)"
        return 0
      fi
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "redis did not answer on port $port (attempt $attempt): $(tail -n 5 "$REDIS_LOG")" >&2
  done
  die "redis failed to start: $(tail -n 20 "$REDIS_LOG")"
}
