#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests that use a real one (the
# store's claims and leases on PostgreSQL). The project's machines and CI start one before each
# session; on a fresh Debian machine without it, this installs Debian's postgresql with apt (as
# root), starts it, and lets the local user `postgres` in over TCP from 127.0.0.1 without a
# password, as those machines do. Idempotent: does nothing when the server answers already.
set -euo pipefail

ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; }

if ready; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "postgres: no server on 127.0.0.1:5432 and not root: start PostgreSQL (trust auth for 127.0.0.1) first" >&2
    exit 1
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "postgres: installing Debian's postgresql with apt (the PostgreSQL tests need a real server)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
hba="/etc/postgresql/$version/main/pg_hba.conf"
if ! grep -q "exactmate-tests" "$hba"; then
    # First match wins in pg_hba.conf: the trust lines go on top.
    { echo "host all all 127.0.0.1/32 trust # exactmate-tests"; echo "host all all ::1/128 trust # exactmate-tests"; cat "$hba"; } > "$hba.new"
    mv "$hba.new" "$hba"
    chown postgres:postgres "$hba"
fi
pg_ctlcluster "$version" main start 2>/dev/null || pg_ctlcluster "$version" main reload
for _ in $(seq 1 50); do
    ready && break
    sleep 0.2
done
ready || { echo "postgres: the server did not start" >&2; exit 1; }
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"
