-- view_edges (src/check/leaks.rs, views_with_owner_rights): which relation
-- each view's or materialized view's rule reads, one row per pair. The check
-- follows them from the tenant-scoped tables, through views over views.
SELECT DISTINCT r.ev_class, d.refobjid
  FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
 WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
   AND r.ev_class <> d.refobjid
