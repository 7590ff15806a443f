-- leakproof_functions (src/check/hygiene.rs): functions outside pg_catalog
-- marked LEAKPROOF, with the extension that installed them ('' for none).
SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner)::text,
       coalesce((SELECT x.extname::text FROM pg_depend e JOIN pg_extension x ON x.oid = e.refobjid
                  WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid
                    AND e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'), '')
  FROM pg_proc p
 WHERE p.proleakproof
   AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
 ORDER BY 1
