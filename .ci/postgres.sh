#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages when missing, starts the local cluster, and makes a
# role and database for govpulse. Prints the GOVPULSE_DB__* settings to use as `export` lines.
# Usage: .ci/postgres.sh ROLE DATABASE [PASSWORD]   (a fresh random password when none is given)
# Run as root (CI) or with sudo rights. Leaves the cluster running.
set -euo pipefail
ROLE=${1:?role}
DATABASE=${2:?database}
PASSWORD=${3:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}

as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  root apt-get update -qq >&2
  root apt-get install -y -qq postgresql >&2
fi
VERSION=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
pg_lsclusters -h | grep -q "^$VERSION main" || root pg_createcluster "$VERSION" main >&2
pg_lsclusters -h | grep -q "^$VERSION main .* online" || root pg_ctlcluster "$VERSION" main start >&2
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {print $3}')

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

cat <<ENV
export GOVPULSE_DB__HOST=127.0.0.1
export GOVPULSE_DB__PORT=$PORT
export GOVPULSE_DB__NAME=$DATABASE
export GOVPULSE_DB__USER=$ROLE
export GOVPULSE_DB__PASSWORD=$PASSWORD
ENV
