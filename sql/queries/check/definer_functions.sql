-- definer_functions (src/check/leaks.rs); $1 is the tenant column's name.
SELECT p.oid::regprocedure::text, o.rolname::text, string_agg(DISTINCT c.oid::regclass::text, ', ')
   FROM pg_proc p
   JOIN pg_roles o ON o.oid = p.proowner AND (o.rolsuper OR o.rolbypassrls)
   JOIN pg_class c ON c.oid IN (SELECT relid FROM tenant.tables)
  WHERE p.prosecdef
    AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
    AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid
                      AND e.deptype = 'e')
    AND (p.prosrc ~ ('\m' || regexp_replace(c.relname, '([^[:alnum:]_])', '\\\1', 'g') || '\M')
         OR EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                       AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid))
  GROUP BY p.oid, o.rolname
  ORDER BY 1
