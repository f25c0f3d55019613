#!/usr/bin/env bash
# Start a private PostgreSQL on 127.0.0.1:54329 for the distributed-optimisation tests and export its URL
# as ANNOPLAN_TEST_POSTGRES. Installs Debian's postgresql when missing (CI runs as root on a clean machine).
# Sourced by .ci/run; the server is stopped when the calling shell exits.
set -u
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pg_dir=$(mktemp -d /tmp/annoplan-pg.XXXXXX)
chown postgres "$pg_dir"
su postgres -c "$pg_bin/initdb -D $pg_dir/data -A trust -U postgres" >/dev/null
su postgres -c "$pg_bin/pg_ctl -D $pg_dir/data -w -l $pg_dir/log \
  -o '-p 54329 -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=200' start" >/dev/null
su postgres -c "$pg_bin/createdb -h 127.0.0.1 -p 54329 annoplan"
export ANNOPLAN_TEST_POSTGRES="postgresql://postgres@127.0.0.1:54329/annoplan"
trap 'su postgres -c "$pg_bin/pg_ctl -D $pg_dir/data -m fast stop" >/dev/null 2>&1; rm -rf "$pg_dir"' EXIT
