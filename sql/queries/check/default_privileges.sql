-- default_privileges (src/check/hygiene.rs): ALTER DEFAULT PRIVILEGES that
-- grant roles other than the creator (and operators, superusers) access to
-- the tables a role creates: (creator, schema or '' for all, grantee,
-- privileges). TRIGGER too: a grantee's trigger sees every tenant's rows
-- as they are written.
SELECT quote_ident(pg_get_userbyid(d.defaclrole)), coalesce(quote_ident(n.nspname), ''),
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
       string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
  FROM pg_default_acl d
  LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,
       aclexplode(d.defaclacl) a
 WHERE d.defaclobjtype = 'r'
   AND a.grantee <> d.defaclrole
   AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER')
   AND NOT (a.grantee <> 0 AND (
            (SELECT rolsuper FROM pg_roles WHERE oid = a.grantee)
            OR pg_has_role(a.grantee, 'tenant_admin', 'MEMBER')))
 GROUP BY d.defaclrole, n.nspname, a.grantee
 ORDER BY 1, 2, 3
