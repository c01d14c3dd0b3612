#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages when missing, starts a cluster, and makes a role and
# database for govpulse. Prints the GOVPULSE_DB__* settings to use as `export` lines.
# Usage: .ci/postgres.sh ROLE DATABASE [PASSWORD]   (a fresh random password when none is given)
# The cluster is `main` unless PG_CLUSTER names another (CI's TimescaleDB cluster is `tsdb`, see
# .ci/timescaledb.sh); a cluster that does not exist is created, on PG_PORT when given.
# Where the cluster preloads timescaledb, the extension is created in the database (as the
# superuser, so the govpulse role needs no more rights than owning its database).
# Run as root (CI) or with sudo rights. Leaves the cluster running.
set -euo pipefail
ROLE=${1:?role}
DATABASE=${2:?database}
PASSWORD=${3:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}
CLUSTER=${PG_CLUSTER:-main}

as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  root apt-get update -qq >&2
  root apt-get install -y -qq postgresql >&2
fi
VERSION=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^$VERSION $CLUSTER "; then
  root pg_createcluster ${PG_PORT:+-p "$PG_PORT"} "$VERSION" "$CLUSTER" >&2
fi
pg_lsclusters -h | grep -q "^$VERSION $CLUSTER .* online" || root pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $3}')

# CREATEROLE only so that migrations can create the read-only dashboard role.
as_postgres "psql -q -p $PORT -v ON_ERROR_STOP=1" >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEROLE;
  END IF;
END \$\$;
ALTER ROLE $ROLE PASSWORD '$PASSWORD';
SQL
as_postgres "psql -q -p $PORT -tAc \"SELECT 1 FROM pg_database WHERE datname = '$DATABASE'\"" | grep -q 1 \
  || as_postgres "createdb -p $PORT -O $ROLE $DATABASE" >&2
# The loader defines its settings only when preloaded; without it CREATE EXTENSION would fail.
if as_postgres "psql -q -p $PORT -d $DATABASE -tAc \"SELECT 1 FROM pg_settings WHERE name = 'timescaledb.max_background_workers'\"" | grep -q 1; then
  as_postgres "psql -q -p $PORT -d $DATABASE -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS timescaledb'" >&2
fi

cat <<ENV
export GOVPULSE_DB__HOST=127.0.0.1
export GOVPULSE_DB__PORT=$PORT
export GOVPULSE_DB__NAME=$DATABASE
export GOVPULSE_DB__USER=$ROLE
export GOVPULSE_DB__PASSWORD=$PASSWORD
ENV
