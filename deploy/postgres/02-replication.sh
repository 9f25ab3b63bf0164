#!/bin/sh
# Lets the `replica` service (docker-compose.yml, profile `replica`) copy this
# server and stream its WAL: replication connections from the compose network,
# as the superuser, with a password. A replica that was down a while catches up
# from the WAL kept here (up to wal_keep_size); one further behind is copied
# again (`docker compose rm -sv replica`).
set -eu
echo "host replication postgres all scram-sha-256" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "ALTER SYSTEM SET wal_keep_size = '256MB'"
