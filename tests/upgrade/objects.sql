-- Every object pg_tenant puts into a database, one line each with what makes
-- it what it is: tests/upgrade/run.sh compares an upgraded database with a
-- fresh install through this. Names only, never OIDs; column order is the
-- order of the live columns.
WITH ext AS (SELECT oid, extnamespace FROM pg_extension WHERE extname = 'pg_tenant'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
),
registry_tables AS (
    SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'tenant'::regnamespace
    UNION
    -- and the tenant-scoped tables: what tenant_enable put on them
    SELECT t.relid::oid FROM tenant.tables t
),
lines(line) AS (
    -- the extension itself and its configuration tables
    SELECT 'extension ' || e.extname || ' schema=' || e.extnamespace::regnamespace
           || ' relocatable=' || e.extrelocatable
           || ' config=' || coalesce((SELECT string_agg(c::regclass::text || ' where ' || coalesce(w, ''), ', ' ORDER BY c::regclass::text)
                                        FROM unnest(e.extconfig, e.extcondition) AS x(c, w)), '-')
      FROM pg_extension e WHERE e.extname = 'pg_tenant'
    UNION ALL
    -- member objects, by description
    SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0) FROM members m
    UNION ALL
    -- functions: signature and attributes
    SELECT 'function ' || p.oid::regprocedure::text
           || ' returns ' || pg_get_function_result(p.oid)
           || ' args=' || pg_get_function_arguments(p.oid)
           || ' lang=' || l.lanname || ' kind=' || p.prokind::text
           || ' volatile=' || p.provolatile::text || ' parallel=' || p.proparallel::text
           || ' strict=' || p.proisstrict || ' secdef=' || p.prosecdef || ' leakproof=' || p.proleakproof
           || ' cost=' || p.procost || ' rows=' || p.prorows
           || ' config=' || coalesce(array_to_string(p.proconfig, ';'), '-')
           || ' body=' || CASE WHEN l.lanname = 'c' THEN p.prosrc || '@' || coalesce(p.probin, '-')
                               ELSE md5(p.prosrc) END
           || ' owner=' || p.proowner::regrole
           || ' acl=' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a), '-')
           || ' comment=' || coalesce(md5(obj_description(p.oid, 'pg_proc')), '-')
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
     WHERE p.oid IN (SELECT objid FROM members WHERE classid = 'pg_proc'::regclass)
    UNION ALL
    -- relations: kind, options, RLS, owner, grants, comment, definition of views
    SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text
           || ' options=' || coalesce(array_to_string(c.reloptions, ','), '-')
           || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
           || ' owner=' || c.relowner::regrole
           || ' acl=' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a), '-')
           || ' comment=' || coalesce(md5(obj_description(c.oid, 'pg_class')), '-')
           || CASE WHEN c.relkind = 'v' THEN ' view=' || md5(pg_get_viewdef(c.oid)) ELSE '' END
      FROM pg_class c
     WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
        OR c.oid IN (SELECT oid FROM registry_tables)
    UNION ALL
    -- columns, in order
    SELECT 'column ' || a.attrelid::regclass::text || ' #'
           || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum)
           || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || ' notnull=' || a.attnotnull
           || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
           || ' acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), '-')
           || ' comment=' || coalesce(md5(col_description(a.attrelid, a.attnum)), '-')
      FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attrelid IN (SELECT oid FROM registry_tables) AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    -- constraints and indexes
    SELECT 'constraint ' || co.conrelid::regclass::text || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
           || ' comment=' || coalesce(md5(obj_description(co.oid, 'pg_constraint')), '-')
      FROM pg_constraint co WHERE co.conrelid IN (SELECT oid FROM registry_tables)
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
           || ' comment=' || coalesce(md5(obj_description(i.indexrelid, 'pg_class')), '-')
      FROM pg_index i WHERE i.indrelid IN (SELECT oid FROM registry_tables)
    UNION ALL
    -- policies
    SELECT 'policy ' || po.polrelid::regclass::text || ' ' || po.polname
           || ' cmd=' || po.polcmd::text || ' permissive=' || po.polpermissive
           || ' roles=' || (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY 1) FROM unnest(po.polroles) r)
           || ' using=' || coalesce(pg_get_expr(po.polqual, po.polrelid), '-')
           || ' check=' || coalesce(pg_get_expr(po.polwithcheck, po.polrelid), '-')
           || ' comment=' || coalesce(md5(obj_description(po.oid, 'pg_policy')), '-')
      FROM pg_policy po WHERE po.polrelid IN (SELECT oid FROM registry_tables)
    UNION ALL
    -- triggers (not the foreign keys' internal ones) and event triggers
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
           || ' comment=' || coalesce(md5(obj_description(t.oid, 'pg_trigger')), '-')
      FROM pg_trigger t WHERE t.tgrelid IN (SELECT oid FROM registry_tables) AND NOT t.tgisinternal
    UNION ALL
    SELECT 'event trigger ' || ev.evtname || ' on=' || ev.evtevent || ' function=' || ev.evtfoid::regproc
           || ' enabled=' || ev.evtenabled::text || ' tags=' || coalesce(array_to_string(ev.evttags, ','), '-')
           || ' comment=' || coalesce(md5(obj_description(ev.oid, 'pg_event_trigger')), '-')
      FROM pg_event_trigger ev
    UNION ALL
    -- the schema and the roles pg_tenant creates
    SELECT 'schema ' || n.nspname || ' owner=' || n.nspowner::regrole
           || ' acl=' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a), '-')
           || ' comment=' || coalesce(md5(obj_description(n.oid, 'pg_namespace')), '-')
      FROM pg_namespace n WHERE n.nspname = 'tenant'
    UNION ALL
    SELECT 'role ' || r.rolname || ' login=' || r.rolcanlogin || ' bypassrls=' || r.rolbypassrls
           || ' comment=' || coalesce(md5(shobj_description(r.oid, 'pg_authid')), '-')
      FROM pg_roles r WHERE r.rolname IN ('tenant_admin', 'tenant_bypass')
    UNION ALL
    -- settings pg_tenant defines when its library loads
    SELECT 'setting ' || s.name || ' context=' || s.context || ' type=' || s.vartype
           || ' default=' || coalesce(s.boot_val, '-') || ' comment=' || md5(coalesce(s.short_desc, '') || coalesce(s.extra_desc, ''))
      FROM pg_settings s WHERE s.name LIKE 'pg\_tenant.%' OR s.name LIKE 'app.%'
)
SELECT line FROM lines ORDER BY line;
