#!/bin/sh
# The postgres image runs this once, on an empty data directory: WidgetWorld's
# roles and grants (roles.sql, grants.sql), then their passwords, passed as
# psql variables so they never appear in a file or a process list.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -f /widgetworld/roles.sql
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname widgetworld -f /widgetworld/grants.sql
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v migrator_password="$WIDGETWORLD_MIGRATOR_PASSWORD" \
    -v web_password="$WIDGETWORLD_DB_PASSWORD" <<'SQL'
ALTER ROLE widgetworld_migrator PASSWORD :'migrator_password';
ALTER ROLE widgetworld_web PASSWORD :'web_password';
SQL
