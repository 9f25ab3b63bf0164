-- Run as a superuser on the `widgetworld` database, after roles.sql.
-- The schema belongs to the migrator; the web role may use it, not change it.
ALTER SCHEMA public OWNER TO widgetworld_migrator;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO widgetworld_web;
-- Every table and sequence the migrator creates from now on: rows only.
ALTER DEFAULT PRIVILEGES FOR ROLE widgetworld_migrator IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO widgetworld_web;
ALTER DEFAULT PRIVILEGES FOR ROLE widgetworld_migrator IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO widgetworld_web;
-- And those that exist already, for a database migrated before the split.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO widgetworld_web;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO widgetworld_web;
