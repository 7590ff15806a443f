-- An application role must not get its own code run with the registry owner's
-- rights by putting its schema in front of pg_catalog in search_path.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
CREATE SCHEMA evil AUTHORIZATION app_user;
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
CREATE FUNCTION evil.uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'evil operator ran as %', current_user;
END $$;
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.uuid_eq);
SET search_path = evil, pg_catalog, public;
-- The operator is live for app_user's own queries...
SELECT 'aaaaaaaa-0000-4000-8000-000000000001'::uuid = 'aaaaaaaa-0000-4000-8000-000000000001'::uuid;
-- ...but pg_tenant's lookups as the registry owner do not use it.
BEGIN;
SELECT set_config('app.current_tenant', 'aaaaaaaa-0000-4000-8000-000000000001', true) IS NOT NULL AS set;
SELECT current_tenant_id();
SELECT count(*) AS acme_projects FROM projects;
ROLLBACK;
RESET search_path;
\c - postgres
DROP SCHEMA evil CASCADE;
