-- views_with_owner_rights (src/check/leaks.rs): the views and materialized
-- views in $1 (oid[]: those that read tenant-scoped tables, found through
-- view_edges.sql) with their owners. (An owner who is a member of
-- tenant_bypass passes no bypass on: tenant_bypass_requested() answers only
-- to a reader who holds tenant_bypass itself.)
SELECT v.oid::int8::text,
       quote_ident(n.nspname::text) || '.' || quote_ident(v.relname::text),
       v.relkind::text, o.rolname::text, (o.rolsuper OR o.rolbypassrls)::text,
       coalesce(array_to_string(v.reloptions, ',') ~ 'security_invoker=(true|on|1|yes)', false)::text
  FROM pg_class v
  JOIN pg_namespace n ON n.oid = v.relnamespace
  JOIN pg_roles o ON o.oid = v.relowner
 WHERE v.oid = ANY ($1)
