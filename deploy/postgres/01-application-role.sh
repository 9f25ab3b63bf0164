#!/bin/sh
# The application connects as an ordinary role, never as the superuser: a
# superuser may use the reserved connection slots, which the pool's connection
# budget deliberately leaves for administrators.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$WIDGETWORLD_DB_PASSWORD" <<'SQL'
CREATE ROLE widgetworld LOGIN PASSWORD :'app_password';
-- So the pool sees every client in pg_stat_activity (docs/data-layer.md).
GRANT pg_read_all_stats TO widgetworld;
CREATE DATABASE widgetworld OWNER widgetworld;
SQL
