-- bypassing_login_roles (src/check/leaks.rs); $1 is the tenant column's name.
WITH RECURSIVE member_of (member, role) AS (
     SELECT oid, oid FROM pg_roles
     UNION
     SELECT m.member, member_of.role FROM pg_auth_members m JOIN member_of ON m.roleid = member_of.member
 ),
 -- Tenant-scoped tables grouped by owner and ACL (thousands of tables share
 -- a few): each group with its size and its five oldest tables.
 kinds (kind, owner, acl, tables, oldest) AS (
     SELECT row_number() OVER (), g.owner, r.relacl, g.n, g.oldest
       FROM (SELECT c.relowner AS owner, count(*) AS n,
                    (array_agg(c.oid ORDER BY c.oid))[1:5] AS oldest
               FROM pg_class c JOIN tenant.tables t ON t.relid = c.oid
              GROUP BY c.relowner, c.relacl::text) g
       JOIN pg_class r ON r.oid = g.oldest[1]
 ),
 reach (kind, role) AS (
     SELECT k.kind, k.owner FROM kinds k
     UNION
     SELECT k.kind, a.grantee FROM kinds k, aclexplode(k.acl) a WHERE a.grantee <> 0
 ),
 reached (login, kind) AS (
     SELECT DISTINCT m.member, r.kind
       FROM reach r JOIN member_of m ON m.role = r.role
 )
 -- The tables it reaches: five (the oldest, listed by name), then how many more
 -- (thousands of names would make the finding unreadable, and slow).
 SELECT l.rolname::text,
        (SELECT string_agg(x, ', ' ORDER BY x)
           FROM (SELECT o::regclass::text AS x
                   FROM reached r2 JOIN kinds k2 ON k2.kind = r2.kind, unnest(k2.oldest) o
                  WHERE r2.login = l.oid ORDER BY o LIMIT 5) first)
          || CASE WHEN sum(k.tables) > 5 THEN ' and ' || (sum(k.tables) - 5) || ' more' ELSE '' END,
        l.rolsuper::text, l.rolbypassrls::text,
        (SELECT string_agg(b.rolname, ', ') FROM pg_roles b JOIN member_of mb ON mb.role = b.oid AND mb.member = l.oid
          WHERE b.oid <> l.oid AND (b.rolsuper OR b.rolbypassrls))::text,
        bool_or(EXISTS (SELECT FROM member_of mo WHERE mo.member = l.oid AND mo.role = k.owner))::text
   FROM reached r
   JOIN kinds k ON k.kind = r.kind
   JOIN pg_roles l ON l.oid = r.login AND l.rolcanlogin
  GROUP BY l.oid, l.rolname, l.rolsuper, l.rolbypassrls
  ORDER BY 1
