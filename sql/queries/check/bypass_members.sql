-- bypass_members (src/check/hygiene.rs): LOGIN roles that are members of
-- tenant_bypass, directly or through other roles (superusers, which RLS does
-- not apply to anyway, are login_role's), with the roles granted to them
-- that lead there.
WITH RECURSIVE member_of (member, role, first) AS (
     SELECT m.member, m.roleid, m.roleid FROM pg_auth_members m
     UNION
     SELECT m.member, member_of.role, m.roleid
       FROM pg_auth_members m JOIN member_of ON m.roleid = member_of.member
 )
SELECT l.rolname::text,
       string_agg(DISTINCT quote_ident(pg_get_userbyid(mo.first)), ', ')
  FROM member_of mo
  JOIN pg_roles l ON l.oid = mo.member AND l.rolcanlogin AND NOT l.rolsuper
 WHERE mo.role = 'tenant_bypass'::regrole
 GROUP BY l.rolname
 ORDER BY 1
