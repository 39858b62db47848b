#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 for the test suite: start them when
# they are installed but down, install them with apt when missing (as root).
set -euo pipefail

PGHOST=127.0.0.1; PGPORT=5432; REDIS_PORT=6379

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }
redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
  else
    (exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null
  fi
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
  echo "installing $* with apt" >&2
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

start_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql || { echo "PostgreSQL is missing and could not be installed: install it, or run as root" >&2; exit 1; }
  fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -n 1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if [ -w "$hba" ] && ! grep -q "tds: trust loopback" "$hba"; then
    # the test suite connects as postgres over TCP without a password
    sed -i '1i host all all 127.0.0.1/32 trust # tds: trust loopback\nhost all all ::1/128 trust # tds: trust loopback' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || as_root pg_ctlcluster "$version" main start
}

start_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server || { echo "Redis is missing and could not be installed: install it, or run as root" >&2; exit 1; }
  fi
  local dir=/var/lib/redis; [ -w "$dir" ] || dir=$(mktemp -d)
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/tds-test.log"
}

wait_for() {
  local what=$1 check=$2
  for _ in $(seq 1 60); do $check && return 0; sleep 0.5; done
  echo "$what did not come up on 127.0.0.1" >&2; exit 1
}

if ! command -v pg_isready >/dev/null 2>&1 && ! command -v pg_ctlcluster >/dev/null 2>&1; then start_postgres; fi
pg_up || start_postgres
wait_for PostgreSQL pg_up
redis_up || start_redis
wait_for Redis redis_up
echo "PostgreSQL and Redis answer on 127.0.0.1"
