-- partitions_without_isolation: continues sql/queries/check/relatives.sql (joined at compile time).
,
 holders (relid, grantee, privilege) AS (
     SELECT c.oid, a.grantee, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
      WHERE c.oid IN (SELECT relid FROM relatives) AND a.grantee <> c.relowner
     UNION
     SELECT c.oid, a.grantee, a.privilege_type
       FROM pg_class c JOIN pg_attribute t ON t.attrelid = c.oid AND t.attnum > 0 AND NOT t.attisdropped,
            aclexplode(t.attacl) a
      WHERE c.oid IN (SELECT relid FROM relatives) AND a.grantee <> c.relowner
 ),
 grantees (relid, grantee, privileges) AS (
     SELECT h.relid, CASE WHEN h.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
            string_agg(DISTINCT h.privilege, ', ')
       FROM holders h LEFT JOIN pg_roles r ON r.oid = h.grantee
      WHERE h.grantee = 0 OR NOT (r.rolsuper OR r.rolbypassrls)
      GROUP BY h.relid, h.grantee, r.rolname
 )
 SELECT c.oid::regclass::text, c.relkind::text, c.relispartition::text, bool_or(x.below)::text,
        string_agg(DISTINCT x.origin::regclass::text, ', '),
        (SELECT string_agg(g.grantee || ' (' || g.privileges || ')', ', ' ORDER BY g.grantee)
           FROM grantees g WHERE g.relid = c.oid),
        (SELECT string_agg(g.grantee, ', ' ORDER BY g.grantee) FROM grantees g WHERE g.relid = c.oid),
        EXISTS (SELECT FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attname = $1 AND NOT t.attisdropped)::text,
        (c.relrowsecurity AND c.relforcerowsecurity
         AND EXISTS (SELECT FROM pg_policy p
                      WHERE p.polrelid = c.oid AND p.polname = $3 AND p.polpermissive AND p.polcmd = '*'
                        AND p.polroles = '{0}'
                        AND pg_get_expr(p.polqual, p.polrelid) = $2
                        AND pg_get_expr(p.polwithcheck, p.polrelid) = $2)
         AND NOT EXISTS (SELECT FROM pg_policy p
                          WHERE p.polrelid = c.oid AND p.polpermissive AND p.polname <> $3
                            AND NOT (p.polname = $4
                                     AND p.polroles = ARRAY[(SELECT oid FROM pg_roles WHERE rolname = 'tenant_bypass')])))::text
   FROM relatives x JOIN pg_class c ON c.oid = x.relid
  GROUP BY c.oid
  ORDER BY 1
