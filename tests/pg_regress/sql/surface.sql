-- Everything pg_tenant's CREATE EXTENSION creates, as a golden list: any
-- change of the SQL surface (a function's signature, volatility, parallel
-- safety, SECURITY DEFINER, search_path, grants or comment; a table, column,
-- constraint, policy, trigger, role or setting) shows here in review. It also
-- checks the grants sql/finalize.sql spells by hand.
\pset null '(null)'

-- Functions and procedures of the extension.
SELECT p.oid::regprocedure AS function,
       pg_get_function_result(p.oid) AS returns,
       p.provolatile AS vol, p.proparallel AS par, p.prosecdef AS definer, p.proisstrict AS strict,
       array_to_string(p.proconfig, ', ') AS config,
       coalesce(array_to_string(ARRAY(SELECT a FROM unnest(p.proacl) a ORDER BY a::text), ' '), '(default: PUBLIC may execute)') AS acl,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_tenant')
 ORDER BY p.oid::regprocedure::text;

-- Relations: kind, options, grants, RLS, whether pg_dump keeps their rows.
SELECT c.oid::regclass AS relation, c.relkind AS kind,
       array_to_string(c.reloptions, ', ') AS options,
       array_to_string(ARRAY(SELECT a FROM unnest(c.relacl) a ORDER BY a::text), ' ') AS acl,
       c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       c.oid = ANY (e.extconfig) AS dumped,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_tenant'
 ORDER BY c.oid::regclass::text;

-- Columns of the registry tables, with column grants.
SELECT a.attrelid::regclass AS relation, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, pg_get_expr(ad.adbin, ad.adrelid) AS default,
       array_to_string(ARRAY(SELECT x FROM unnest(a.attacl) x ORDER BY x::text), ' ') AS acl
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid AND c.relnamespace = 'tenant'::regnamespace AND c.relkind = 'r'
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid::regclass::text, a.attnum;

-- Constraints and indexes of the registry tables.
SELECT conrelid::regclass AS relation, conname AS constraint, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint WHERE connamespace = 'tenant'::regnamespace
 ORDER BY conrelid::regclass::text, conname;
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) AS definition
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'tenant'::regnamespace
 ORDER BY indexrelid::regclass::text;

-- Policies, triggers and event triggers.
SELECT polrelid::regclass AS relation, polname AS policy, polcmd AS cmd, polpermissive AS permissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END FROM unnest(polroles) r ORDER BY 1) AS roles,
       pg_get_expr(polqual, polrelid) AS using, pg_get_expr(polwithcheck, polrelid) AS with_check,
       obj_description(oid, 'pg_policy') IS NOT NULL AS commented
  FROM pg_policy WHERE polrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'tenant'::regnamespace)
 ORDER BY polrelid::regclass::text, polname;
SELECT tgrelid::regclass AS relation, tgname AS trigger, pg_get_triggerdef(oid) AS definition,
       obj_description(oid, 'pg_trigger') IS NOT NULL AS commented
  FROM pg_trigger
 WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'tenant'::regnamespace)
 ORDER BY tgrelid::regclass::text, tgname;
SELECT evtname, evtevent, evtfoid::regproc FROM pg_event_trigger ORDER BY 1;

-- The schema, the roles and the settings (defined when the library loads).
SELECT current_tenant_id() IS NULL AS library_loaded;
SELECT nspname, array_to_string(ARRAY(SELECT a FROM unnest(nspacl) a ORDER BY a::text), ' ') AS acl,
       obj_description(oid, 'pg_namespace') IS NOT NULL AS commented
  FROM pg_namespace WHERE nspname = 'tenant';
SELECT rolname, rolcanlogin, rolsuper, rolbypassrls, rolinherit,
       shobj_description(oid, 'pg_authid') IS NOT NULL AS commented
  FROM pg_roles WHERE rolname IN ('tenant_admin', 'tenant_bypass') ORDER BY 1;
SELECT name, setting, context, vartype, enumvals
  FROM pg_settings WHERE name IN ('app.current_tenant', 'app.current_user_id', 'app.bypass_rls')
     OR name LIKE 'pg\_tenant.%'
 ORDER BY 1;
