-- Installs pg_tenant and the roles every other file uses:
--   migrator  owns the application tables and runs migrations (tenant_admin member);
--   app_user  the application: an ordinary LOGIN role, not superuser, no BYPASSRLS,
--             not the tables' owner — the role RLS must hold back;
--   job       a background job allowed to bypass (member of tenant_bypass).
\set SHOW_CONTEXT never
CREATE EXTENSION pg_tenant;

CREATE ROLE migrator LOGIN;
GRANT tenant_admin TO migrator;
GRANT CREATE ON SCHEMA public TO migrator;
CREATE ROLE app_user LOGIN;
CREATE ROLE job LOGIN;
GRANT tenant_bypass TO job;
-- Behind a pooler PUBLIC should not create temporary objects (tenant_check's
-- temporary_objects); the test roles get it by name.
SELECT format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT TEMPORARY ON DATABASE %I TO migrator, app_user, job', current_database()) \gexec
SELECT rolname, rolsuper, rolbypassrls FROM pg_roles
 WHERE rolname IN ('migrator', 'app_user', 'job') ORDER BY rolname;

SELECT tenant_create('Acme Corp') IS NOT NULL AS acme_created;
SELECT tenant_create('Globex') IS NOT NULL AS globex_created;
SELECT tenant_create('Initech', 'initech', 'pro') IS NOT NULL AS initech_created;
-- Fixed ids so that expected output (error messages name the tenant) is stable.
UPDATE tenant.tenants SET id = CASE slug
    WHEN 'acme-corp' THEN 'aaaaaaaa-0000-4000-8000-000000000001'::uuid
    WHEN 'globex'    THEN 'bbbbbbbb-0000-4000-8000-000000000002'::uuid
    WHEN 'initech'   THEN 'cccccccc-0000-4000-8000-000000000003'::uuid END;
SELECT id, slug, name, status, plan FROM tenant.tenants ORDER BY slug;

-- Test helper: set app.current_tenant (transaction-local) by slug, the way an
-- application would set it by id. SECURITY DEFINER so that app_user can look
-- up a slug it is not allowed to read.
CREATE FUNCTION act_as(slug text) RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT pg_catalog.set_config('app.current_tenant',
        (SELECT id::text FROM tenant.tenants WHERE tenants.slug = act_as.slug), true);
    SELECT slug;
$$;
GRANT EXECUTE ON FUNCTION act_as(text) TO PUBLIC;

-- Every object the extension created carries a comment (\dx+ and \df+ explain them).
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS without_comment
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_tenant')
   AND d.deptype = 'e'
   AND obj_description(d.objid, d.classid::regclass::name) IS NULL
   -- A table's row type and its array type belong to the table, which carries
   -- the comment (PostgreSQL 17 lists them as extension members too).
   AND NOT EXISTS (SELECT FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
                    WHERE d.classid = 'pg_type'::regclass AND c.relkind <> 'c'
                      AND d.objid IN (t.oid, t.typarray))
 ORDER BY 1;
SELECT c.relname, p.polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
 WHERE c.relnamespace = 'tenant'::regnamespace
   AND obj_description(p.oid, 'pg_policy') IS NULL;
SELECT shobj_description(oid, 'pg_authid') IS NOT NULL AS role_commented, rolname
  FROM pg_roles WHERE rolname IN ('tenant_admin', 'tenant_bypass') ORDER BY rolname;

-- Registry tables keep their rows in pg_dump and have RLS enabled and forced.
SELECT extconfig::regclass[] AS dumped_tables FROM pg_extension WHERE extname = 'pg_tenant';
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relnamespace = 'tenant'::regnamespace AND relkind = 'r' ORDER BY relname;
