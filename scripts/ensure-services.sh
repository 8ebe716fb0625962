#!/usr/bin/env bash
# Makes sure everything the test suite talks to is installed and running on loopback; safe to run again and again.
#   Redis 7 on 127.0.0.1:6379, PostgreSQL on 127.0.0.1:5432 (database `test`, trust auth for local TCP),
#   Memcached on 127.0.0.1:11211, a 3-master Redis Cluster on 127.0.0.1:7001-7003.
# What is already running is left alone; what is missing is installed (Debian packages, as root) and started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need="20.19.0"
have="$(node -p 'process.versions.node' 2>/dev/null || echo 0)"
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
  echo "tiercache needs Node.js >= $need, found $have" >&2
  exit 1
fi

apt_updated=0
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-services: $* is missing and installing it needs root" >&2
    exit 1
  fi
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Redis on 6379.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null || apt_install redis-server redis-tools
  mkdir -p "$root/.tmp/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$root/.tmp/redis" --logfile "$root/.tmp/redis/redis.log" --pidfile "$root/.tmp/redis/redis.pid"
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "ensure-services: redis 127.0.0.1:6379 $(redis-cli -h 127.0.0.1 -p 6379 ping)"

# PostgreSQL on 5432 with a `test` database reachable as `postgres` without a password over loopback.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
  if [ -z "$version" ]; then
    echo "ensure-services: PostgreSQL is installed but has no cluster" >&2
    exit 1
  fi
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    # Tests connect as postgres over loopback without a password, as on the development machines.
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null
fi
echo "ensure-services: postgres 127.0.0.1:5432/test ok"

# Debian's Chromium for the dashboard's browser tests (driven by playwright-core, never a downloaded build).
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
echo "ensure-services: chromium $([ -x /usr/bin/chromium ] && echo ok || echo missing)"

bash "$root/scripts/memcached.sh" start
bash "$root/scripts/redis-cluster.sh" start
