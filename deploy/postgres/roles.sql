-- WidgetWorld's database roles, least privilege first (docs/data-layer.md).
-- Run once as a superuser, on the `postgres` database; then grants.sql on
-- the `widgetworld` database. Passwords are set apart (init-roles.sh), so
-- this file holds no secret.
--
-- widgetworld_migrator owns the database and its schema: it runs
--   `manage.py migrate` (DDL) and nothing else.
-- widgetworld_web is what the web app connects as: it reads and writes rows,
--   never changes the schema. pg_read_all_stats lets its pool see every
--   client's state in pg_stat_activity, which the connection budget needs.
-- Neither is a superuser: a superuser may take the reserved connection slots
-- that the pool's budget leaves for administrators.
CREATE ROLE widgetworld_migrator LOGIN;
CREATE ROLE widgetworld_web LOGIN;
GRANT pg_read_all_stats TO widgetworld_web;
CREATE DATABASE widgetworld OWNER widgetworld_migrator;
REVOKE ALL ON DATABASE widgetworld FROM PUBLIC;
GRANT CONNECT ON DATABASE widgetworld TO widgetworld_web;
