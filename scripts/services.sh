#!/usr/bin/env bash
# Install (Debian/Ubuntu, as root) and start PostgreSQL and Redis on loopback for the service tests
# and a several-process setup on this machine; prints the environment to export, e.g.
#   eval "$(bash scripts/services.sh)"
# which sets what `gongkai serve` / `gongkai worker` read (DATABASE_URL, REDIS_URL, GONGKAI_STORE_DIR:
# ./gongkai-data/store made absolute, unless GONGKAI_STORE_DIR is set) and what the tests read
# (GONGKAI_TEST_POSTGRES_URL, GONGKAI_TEST_REDIS_URL). Redis here keeps nothing on disk (a test
# server); for real separate machines see docs/operations.md (listen address, persistence).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PG_PASSWORD=${GONGKAI_PG_PASSWORD:-gongkai}
REDIS_PORT=${GONGKAI_REDIS_PORT:-6379}
log() { echo "services.sh: $*" >&2; }
# Only the export lines may reach stdout (callers eval it): every tool's chatter goes to stderr
# (pg_ctlcluster prints e.g. "Removed stale pid file." on stdout).
exec 3>&1 1>&2

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
  log "installing postgresql and redis-server"
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends postgresql redis-server >/dev/null
fi

# PostgreSQL: the distribution's default cluster, started with pg_ctlcluster (no systemd needed)
PG_VERSION=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
if [ -z "$PG_VERSION" ]; then
  log "no PostgreSQL cluster found under /etc/postgresql"; exit 1
fi
PG_PORT=$(pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $3}')
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$PG_VERSION" main start 3>&-  # daemons must not hold the caller's stdout
fi
for _ in $(seq 1 30); do
  su postgres -c "psql -p $PG_PORT -tAc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -q" >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gongkai') THEN
    CREATE ROLE gongkai LOGIN PASSWORD '$PG_PASSWORD' CREATEDB;
  ELSE
    ALTER ROLE gongkai PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
for db in gongkai gongkai_test; do
  su postgres -c "psql -p $PG_PORT -tAc \"select 1 from pg_database where datname='$db'\"" | grep -q 1 \
    || su postgres -c "createdb -p $PG_PORT -O gongkai $db"
done

# Redis: loopback only, in the background
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no >/dev/null 3>&-
fi
for _ in $(seq 1 30); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.2; done

STORE_DIR=${GONGKAI_STORE_DIR:-$(pwd)/gongkai-data/store}
cat >&3 <<ENV
export GONGKAI_TEST_POSTGRES_URL=postgresql://gongkai:$PG_PASSWORD@127.0.0.1:$PG_PORT/gongkai_test
export GONGKAI_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/15
export DATABASE_URL=postgresql://gongkai:$PG_PASSWORD@127.0.0.1:$PG_PORT/gongkai
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export GONGKAI_STORE_DIR=$STORE_DIR
ENV
log "PostgreSQL $PG_VERSION on 127.0.0.1:$PG_PORT and Redis on 127.0.0.1:$REDIS_PORT are running"
