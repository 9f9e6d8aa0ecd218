#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on a free loopback port for tests.
# Source it: it exports CLAUDEMESH_TEST_DATABASE_URL and registers an EXIT
# trap that stops the cluster and deletes its files.
#   . scripts/pg-throwaway.sh
set -euo pipefail

pg_bin=""
for dir in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin /usr/local/bin; do
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then pg_bin="$dir"; break; fi
done
if [ -z "$pg_bin" ]; then
  echo "pg-throwaway: no PostgreSQL server binaries (initdb, pg_ctl) found; install the 'postgresql' package" >&2
  return 1 2>/dev/null || exit 1
fi

pg_root=$(mktemp -d /tmp/claudemesh-pg.XXXXXX)
chmod 755 "$pg_root"
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root; use the postgres system user.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$pg_root"
  as_pg() { su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; }
fi

port=""
for candidate in $(shuf -i 20000-60000 -n 50); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[ -n "$port" ] || { echo "pg-throwaway: no free port found" >&2; exit 1; }

as_pg "$pg_bin/initdb" -D "$pg_root/data" -A trust -U postgres --no-sync >/dev/null
# fsync off: this cluster is thrown away; the broker's own crash tests kill
# the broker, never this PostgreSQL.
as_pg "$pg_bin/pg_ctl" -D "$pg_root/data" -l "$pg_root/log" -w -o \
  "-p $port -k $pg_root -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null

pg_throwaway_stop() {
  as_pg "$pg_bin/pg_ctl" -D "$pg_root/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_root"
}
trap pg_throwaway_stop EXIT

export CLAUDEMESH_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "pg-throwaway: PostgreSQL on 127.0.0.1:$port (data in $pg_root)" >&2
