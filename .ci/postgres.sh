#!/usr/bin/env bash
# Start a local, throwaway PostgreSQL for tests/test_io_postgres.py and print its URL.
# Best effort: exits non-zero (and CI skips those tests, saying so) where it cannot.
set -uo pipefail
[ "$(id -u)" -eq 0 ] || exit 1
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >/dev/null 2>&1 || exit 1
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
pg_lsclusters -h | awk '{print $2}' | grep -qx main || pg_createcluster "$ver" main >/dev/null 2>&1 || exit 1
pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true
port=$(pg_lsclusters -h | awk '$2=="main" {print $3; exit}')
pg_lsclusters -h | awk '$2=="main" {print $4}' | grep -qx online || exit 1
as_pg() { su postgres -c "$1"; }
as_pg "psql -p $port -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='synthera'\"" | grep -qx 1 \
  || as_pg "psql -p $port -qc \"CREATE ROLE synthera LOGIN PASSWORD 'synthera'\"" >/dev/null || exit 1
as_pg "psql -p $port -qtAc \"SELECT 1 FROM pg_database WHERE datname='synthera_test'\"" | grep -qx 1 \
  || as_pg "createdb -p $port -O synthera synthera_test" || exit 1
echo "postgresql://synthera:synthera@127.0.0.1:${port}/synthera_test"
