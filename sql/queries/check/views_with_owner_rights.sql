-- views_with_owner_rights (src/check/leaks.rs); $1 is the tenant column's name.
WITH RECURSIVE deps (view, base) AS (
     SELECT DISTINCT r.ev_class, d.refobjid
       FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
      WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
        AND d.refobjid IN (SELECT relid FROM tenant.tables) AND r.ev_class <> d.refobjid
     UNION
     SELECT r.ev_class, deps.base
       FROM deps JOIN pg_depend d ON d.refobjid = deps.view AND d.refclassid = 'pg_class'::regclass
       JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
      WHERE r.ev_class <> deps.view)
 SELECT v.oid::regclass::text, v.relkind::text, string_agg(DISTINCT deps.base::regclass::text, ', '),
        o.rolname::text, (o.rolsuper OR o.rolbypassrls)::text,
        coalesce(array_to_string(v.reloptions, ',') ~ 'security_invoker=(true|on|1|yes)', false)::text,
        -- the tenant_bypass policy applies to the owner: any reader of the
        -- view that sets app.bypass_rls = on gets it
        pg_has_role(o.oid, 'tenant_bypass', 'USAGE')::text
   FROM deps JOIN pg_class v ON v.oid = deps.view JOIN pg_roles o ON o.oid = v.relowner
  GROUP BY v.oid, v.relkind, o.oid, o.rolname, o.rolsuper, o.rolbypassrls
  ORDER BY 1
