#!/usr/bin/env bash
# A throwaway 3-master Redis Cluster on 127.0.0.1:7001-7003 for the test suite.
#   bash scripts/redis-cluster.sh start|stop|status|restart-node PORT [SECONDS_DOWN]
# start: does nothing when the cluster already answers with cluster_state:ok; otherwise stops the nodes this
#        script started, wipes their state and creates the cluster afresh (the nodes keep no data, so there is
#        nothing to lose, and a fresh cluster avoids half-remembered topologies in nodes.conf).
# stop:  stops only the processes named in this script's own pid files.
# status: prints each node's state; exit 0 when the cluster is healthy.
# State (pid, log, nodes.conf) lives in one place per machine, not per checkout: the cluster's ports are a
# machine-wide resource, so every checkout (a developer's, a CI clone) manages the same nodes.
set -euo pipefail

DIR="${TIERCACHE_STATE_DIR:-${TMPDIR:-/tmp}/tiercache-test-servers}/redis-cluster"
HOST=127.0.0.1
PORTS=(7001 7002 7003)

cli() { redis-cli -h "$HOST" -p "$1" "${@:2}"; }

# The PID in our pid file, if that process is still a redis-server (a recycled PID belongs to someone else).
our_pid() {
  local file="$DIR/$1/redis.pid" pid
  [ -f "$file" ] || return 1
  pid="$(cat "$file")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "redis-server.*:$1" || return 1
  echo "$pid"
}

# Every node answers, sees the cluster as ok, and all 16384 slots are served.
healthy() {
  local port info
  for port in "${PORTS[@]}"; do
    info="$(cli "$port" cluster info 2>/dev/null | tr -d '\r')" || return 1
    [[ "$info" == *cluster_state:ok* && "$info" == *cluster_slots_ok:16384* ]] || return 1
  done
}

ensure_installed() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "redis-cluster: redis-server/redis-cli not found; install the redis-server package" >&2
    exit 1
  fi
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
}

stop_node() {
  local port="$1" pid
  if pid="$(our_pid "$port")"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    echo "redis-cluster: stopped $HOST:$port (pid $pid)"
  fi
  rm -f "$DIR/$port/redis.pid"
}

stop_nodes() {
  local port
  for port in "${PORTS[@]}"; do stop_node "$port"; done
}

# Starts one node in its directory; a nodes.conf left there makes it rejoin the cluster it belonged to.
launch() {
  local port="$1"
  # No persistence: the cluster holds test data only. Node timeout short so a test that kills a node sees it soon.
  redis-server --port "$port" --bind "$HOST" --protected-mode yes \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --save '' --appendonly no --dir "$DIR/$port" \
    --daemonize yes --pidfile "$DIR/$port/redis.pid" --logfile "$DIR/$port/redis.log" 9>&-
  for _ in $(seq 100); do cli "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  cli "$port" ping >/dev/null 2>&1 || { echo "redis-cluster: node $port did not start; see $DIR/$port/redis.log" >&2; exit 1; }
}

# A fault test's node restart: stop one node this script started, start it again, wait for the cluster to heal.
restart_node() {
  local port="$1"
  [[ " ${PORTS[*]} " == *" $port "* ]] || { echo "redis-cluster: $port is not a node of this cluster" >&2; exit 2; }
  our_pid "$port" >/dev/null || { echo "redis-cluster: node $port was not started by this script" >&2; exit 1; }
  stop_node "$port"
  sleep "${2:-0}"
  launch "$port"
  for _ in $(seq 300); do healthy && break; sleep 0.1; done
  healthy || { echo "redis-cluster: cluster did not heal after restarting $port" >&2; exit 1; }
  echo "redis-cluster: restarted $HOST:$port"
}

start_nodes() {
  local port
  for port in "${PORTS[@]}"; do
    if cli "$port" ping >/dev/null 2>&1; then
      echo "redis-cluster: port $port is taken by a server this script did not start; not touching it" >&2
      exit 1
    fi
    rm -rf "${DIR:?}/$port"
    mkdir -p "$DIR/$port"
    launch "$port"
  done
}

# Two runs at once (two test processes) must not both create or stop the cluster. The servers and redis-cli
# get fd 9 closed (9>&-): a daemon inheriting it would hold the lock for as long as it runs.
lock() {
  mkdir -p "$DIR"
  exec 9>"$DIR/lock"
  flock -w 120 9 || { echo "redis-cluster: another run holds $DIR/lock" >&2; exit 1; }
}

start() {
  ensure_installed
  lock
  if healthy; then
    echo "redis-cluster: already running and healthy"
    return 0
  fi
  stop_nodes
  start_nodes
  local nodes=() port
  for port in "${PORTS[@]}"; do nodes+=("$HOST:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 9>&- ||
    { cat "$DIR/create.log" >&2; exit 1; }
  for _ in $(seq 300); do healthy && break; sleep 0.1; done
  healthy || { echo "redis-cluster: cluster did not reach cluster_state:ok" >&2; exit 1; }
  echo "redis-cluster: started ${nodes[*]}"
}

status() {
  local port pid state
  for port in "${PORTS[@]}"; do
    pid="$(our_pid "$port" || echo -)"
    state="$(cli "$port" cluster info 2>/dev/null | tr -d '\r' | grep '^cluster_state:' || echo 'not answering')"
    echo "$HOST:$port pid=$pid $state"
  done
  healthy
}

case "${1:-}" in
  start) start ;;
  stop) lock && stop_nodes ;;
  status) status ;;
  restart-node) lock && restart_node "${2:?usage: $0 restart-node PORT [SECONDS_DOWN]}" "${3:-0}" ;;
  *)
    echo "usage: $0 start|stop|status|restart-node PORT [SECONDS_DOWN]" >&2
    exit 2
    ;;
esac
