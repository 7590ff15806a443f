-- risky_grants (src/check/leaks.rs); $1 is the tenant column's name.
SELECT c.oid::regclass::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
        a.privilege_type
   FROM pg_class c, aclexplode(c.relacl) a
  WHERE c.oid IN (SELECT relid FROM tenant.tables)
    AND a.privilege_type IN ('TRUNCATE', 'REFERENCES', 'TRIGGER')
    AND a.grantee <> c.relowner
    AND NOT (a.grantee <> 0 AND (
             (SELECT rolsuper FROM pg_roles WHERE oid = a.grantee)
             OR pg_has_role(a.grantee, 'tenant_admin', 'MEMBER')))
  ORDER BY 1, 2, 3
