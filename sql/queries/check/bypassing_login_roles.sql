-- bypassing_login_roles (src/check/leaks.rs); $1 is the tenant column's name.
WITH RECURSIVE member_of (member, role) AS (
     SELECT oid, oid FROM pg_roles
     UNION
     SELECT m.member, member_of.role FROM pg_auth_members m JOIN member_of ON m.roleid = member_of.member
 ),
 reach (relid, role) AS (
     SELECT c.oid, c.relowner FROM pg_class c WHERE c.oid IN (SELECT relid FROM tenant.tables)
     UNION
     SELECT c.oid, a.grantee FROM pg_class c, aclexplode(c.relacl) a
      WHERE c.oid IN (SELECT relid FROM tenant.tables) AND a.grantee <> 0
 )
 -- The tables it reaches: five (the oldest, listed by name), then how many more
 -- (thousands of names would make the finding unreadable, and slow).
 SELECT l.rolname::text,
        (SELECT string_agg(x, ', ' ORDER BY x)
           FROM (SELECT o::regclass::text AS x FROM unnest(array_agg(DISTINCT r.relid)) o ORDER BY o LIMIT 5) first)
          || CASE WHEN count(DISTINCT r.relid) > 5 THEN ' and ' || (count(DISTINCT r.relid) - 5) || ' more' ELSE '' END,
        l.rolsuper::text, l.rolbypassrls::text,
        (SELECT string_agg(b.rolname, ', ') FROM pg_roles b JOIN member_of mb ON mb.role = b.oid AND mb.member = l.oid
          WHERE b.oid <> l.oid AND (b.rolsuper OR b.rolbypassrls))::text,
        bool_or(EXISTS (SELECT FROM member_of mo JOIN pg_class c ON c.oid = r.relid
                         WHERE mo.member = l.oid AND mo.role = c.relowner))::text
   FROM reach r
   JOIN member_of m ON m.role = r.role
   JOIN pg_roles l ON l.oid = m.member AND l.rolcanlogin
  GROUP BY l.oid, l.rolname, l.rolsuper, l.rolbypassrls
  ORDER BY 1
