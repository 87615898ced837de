#!/bin/sh
# One-shot job (temporalio/admin-tools): creates Temporal's two PostgreSQL databases if missing and
# brings both schemas to the version this admin-tools image ships. Safe to run at every
# `docker compose up`: `create` skips an existing database, `setup-schema -v 0.0` skips a schema
# that is already versioned, `update-schema` applies only the versions not yet applied. After
# changing the temporalio/server version, change admin-tools to the same version: this job then
# upgrades the schemas before the new server starts.
# Reads POSTGRES_SEEDS, DB_PORT, POSTGRES_USER and SQL_PASSWORD (the tool's password variable).
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT=${DB_PORT:-5432}
DBNAME=${DBNAME:-temporal}
VISIBILITY_DBNAME=${VISIBILITY_DBNAME:-temporal_visibility}
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT}"
i=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
  i=$((i + 1))
  [ "$i" -ge 30 ] && { echo "PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT} did not answer" >&2; exit 1; }
  sleep 2
done

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
  db=${pair%%:*}
  dir=$SCHEMA_DIR/${pair##*:}/versioned
  echo "database ${db}: create if missing, then schema from ${dir}"
  sql --db "$db" create
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$dir"
done
echo 'Temporal schemas are up to date'
