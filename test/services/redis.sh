#!/usr/bin/env bash
# A throwaway Redis for the Redis-backed tests (upload state, link cache): no persistence, loopback only.
#
# Usage: test/services/redis.sh start DIR [PORT]   (DIR is wiped first; default port 7060, or REDIS_PORT)
#        test/services/redis.sh stop DIR           (kills the pid start recorded in DIR, then removes DIR; KEEP=1 keeps it)
# Needs (Debian 12): apt-get install --no-install-recommends redis-server
#
# The tests find it through REDIS_URL (default redis://127.0.0.1:7060); each test file works in its own key
# prefix, so files can run at once against one server.
set -euo pipefail

cmd=${1:-}
D=${2:-}
if [ -z "$cmd" ] || [ -z "$D" ]; then
  echo "usage: $0 start DIR [PORT] | stop DIR" >&2
  exit 2
fi
case "$D" in /*) ;; *) D="$PWD/$D" ;; esac
PORT=${3:-${REDIS_PORT:-7060}}

alive () { local st; st=$(ps -o stat= -p "$1" 2>/dev/null || true); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }

# A PING over plain TCP, so a missing redis-cli does not matter; true when the answer is PONG.
ping () {
  local reply
  reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'PING\r\n' >&3 && head -c 7 <&3" 2>/dev/null || true)
  [ "${reply%$'\r'}" = "+PONG" ]
}

stop () {
  # Only the pid this script recorded, never processes found by name.
  local p i
  if [ -f "$D/redis.pid" ]; then
    p=$(cat "$D/redis.pid")
    if [ -n "$p" ] && alive "$p"; then
      kill "$p" 2>/dev/null || true
      for i in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
      alive "$p" && kill -9 "$p" 2>/dev/null || true
    fi
  fi
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$D"; fi
}

start () {
  command -v redis-server >/dev/null 2>&1 || { echo "redis: redis-server not found; apt-get install --no-install-recommends redis-server" >&2; exit 1; }
  if ping "$PORT"; then
    echo "redis: something already answers on 127.0.0.1:$PORT; stop it first" >&2
    exit 1
  fi
  [ -f "$D/redis.pid" ] && stop
  rm -rf "$D"
  mkdir -p "$D"
  redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no --daemonize yes \
    --pidfile "$D/redis.pid" --dir "$D" --logfile "$D/redis.log" >/dev/null \
    || { echo "redis: redis-server did not start" >&2; tail -n 20 "$D/redis.log" >&2 2>/dev/null || true; KEEP=1 stop; exit 1; }
  local i
  for i in $(seq 1 100); do
    if ping "$PORT"; then
      echo "redis ready at redis://127.0.0.1:$PORT (pid $(cat "$D/redis.pid" 2>/dev/null || echo '?'))"
      return 0
    fi
    sleep 0.1
  done
  echo "redis: not answering PING on 127.0.0.1:$PORT within 10 s" >&2
  tail -n 20 "$D/redis.log" >&2 2>/dev/null || true
  KEEP=1 stop
  exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
