#!/usr/bin/env bash
# A second PostgreSQL 15 cluster with TimescaleDB preloaded, for the suite's TimescaleDB run.
# Usage: .ci/timescaledb.sh [CLUSTER [PORT]]   (default: tsdb on 5433). Run as root. Idempotent.
# Needs postgresql-15 15.20 or later (the build's minimum) and the package in
# ../shared/timescaledb beside the clone (TIMESCALEDB_DIR overrides where it is).
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${1:-tsdb}
PORT=${2:-5433}
PACKAGE=${TIMESCALEDB_DIR:-../shared/timescaledb}
# Each policy run is a background worker. Debian's default of 8 leaves runs that fall due together
# "failed to start job"; TimescaleDB's rule: max_worker_processes >= 3 (launcher and friends) +
# timescaledb.max_background_workers (40, raised below from 16: live alone has 37 policies,
# which fall due together after a migration) + max_parallel_workers (8) = 51. README and
# docker-compose.yml use the same figure.
WORKERS=56

[ -x "$PACKAGE/install.sh" ] || { echo "no TimescaleDB package at $PACKAGE (see README)" >&2; exit 1; }
pg_lsclusters -h | grep -q "^15 $CLUSTER " || pg_createcluster -p "$PORT" 15 "$CLUSTER" >&2
pg_conftool 15 "$CLUSTER" set max_worker_processes "$WORKERS"
pg_conftool 15 "$CLUSTER" set timescaledb.max_background_workers 40
# A scheduler that dies (a deadlock victim, say) is otherwise never restarted: no policy of that
# database runs again until the server restarts. Seconds; -1 is TimescaleDB's "never".
pg_conftool 15 "$CLUSTER" set timescaledb.bgw_scheduler_restart_time 60
# Adds timescaledb to shared_preload_libraries and restarts the cluster.
"$PACKAGE/install.sh" 15 "$CLUSTER"
