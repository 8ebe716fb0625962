#!/usr/bin/env bash
# Runs the memcached the test suite talks to: bash scripts/memcached.sh start|stop|status
# Safe to repeat. `start` installs memcached (Debian package) when it is missing and we are root, then starts a
# daemon on 127.0.0.1:11211 unless something already answers there. `stop` ends only the daemon this script
# started (the PID in its pid file), never a memcached someone else runs on the same port.
set -euo pipefail

host=127.0.0.1
port="${MEMCACHED_PORT:-11211}"
# Project-local and git-ignored; the daemon may run as `memcache`, which must be able to write its pid file.
# One place per machine, not per checkout: port 11211 is a machine-wide resource.
run_dir="${TIERCACHE_STATE_DIR:-${TMPDIR:-/tmp}/tiercache-test-servers}/memcached"
pid_file="$run_dir/memcached-$port.pid"
log_file="$run_dir/memcached-$port.log"

answering() {
  # A real protocol exchange, not just an open port: `version` is answered by every memcached since 1.2.
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port && printf 'version\r\n' >&3 && IFS= read -r line <&3 && [[ \$line == VERSION* ]]" \
    2>/dev/null
}

our_pid() {
  # The pid file may outlive its daemon (a reboot, a kill -9), and the PID may since belong to another
  # program: only a live process named memcached counts.
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$pid_file")"
  [[ -n "$pid" && -r "/proc/$pid/comm" && "$(cat "/proc/$pid/comm")" == memcached ]] || return 1
  printf '%s\n' "$pid"
}

install_memcached() {
  command -v memcached >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "memcached.sh: memcached is not installed and installing it needs root (apt-get install memcached)" >&2
    exit 1
  fi
  echo "memcached.sh: installing memcached"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends memcached
}

start() {
  if answering; then
    echo "memcached.sh: memcached already answering on $host:$port"
    return 0
  fi
  install_memcached
  mkdir -p "$run_dir"
  local user_args=()
  if [[ "$(id -u)" -eq 0 ]]; then
    # memcached refuses to run as root unless told which user to become; prefer the package's own user.
    if id memcache >/dev/null 2>&1; then
      chown memcache "$run_dir"
      user_args=(-u memcache)
    else
      user_args=(-u root)
    fi
  fi
  rm -f "$pid_file"
  # Loopback only, no UDP (amplification attacks); 8 MiB items so tests can go past the store's 1 MiB default.
  memcached -d -P "$pid_file" -l "$host" -p "$port" -U 0 -m 128 -I 8m -c 1024 "${user_args[@]}" 2>>"$log_file"
  for _ in $(seq 1 50); do
    if answering; then
      echo "memcached.sh: memcached started on $host:$port (pid $(cat "$pid_file" 2>/dev/null || echo '?'))"
      return 0
    fi
    sleep 0.1
  done
  echo "memcached.sh: memcached did not answer on $host:$port within 5 s; see $log_file" >&2
  exit 1
}

stop() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$pid_file"
    echo "memcached.sh: no memcached started by this script on port $port"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 50); do
    [[ -d "/proc/$pid" ]] || break
    sleep 0.1
  done
  if [[ -d "/proc/$pid" ]]; then
    echo "memcached.sh: memcached (pid $pid) did not stop within 5 s" >&2
    exit 1
  fi
  rm -f "$pid_file"
  echo "memcached.sh: memcached (pid $pid) stopped"
}

status() {
  local pid=''
  pid="$(our_pid)" || pid=''
  if answering; then
    if [[ -n "$pid" ]]; then
      echo "memcached.sh: running on $host:$port (pid $pid, started by this script)"
    else
      echo "memcached.sh: running on $host:$port (not started by this script)"
    fi
    return 0
  fi
  echo "memcached.sh: not answering on $host:$port"
  return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
