#!/bin/sh
# Grafana's login role for docker-compose.yml. The TimescaleDB image runs this once, when its data
# volume is first initialised, as the database owner. It creates the NOLOGIN role
# govpulse_reader (which `govpulse db migrate` then grants read access to every namespace it
# migrates) and a login role, $GRAFANA_DB_USER, that is only a member of it: Grafana can read and
# never write. The password comes from the environment and reaches SQL as a psql variable, so it
# is quoted by psql, never pasted into the statement.
set -eu

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader_user="$GRAFANA_DB_USER" -v reader_password="$GRAFANA_DB_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE govpulse_reader NOLOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'govpulse_reader') \gexec
CREATE ROLE :"reader_user" LOGIN PASSWORD :'reader_password' IN ROLE govpulse_reader;
SQL
