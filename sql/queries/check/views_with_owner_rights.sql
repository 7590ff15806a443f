-- views_with_owner_rights (src/check/leaks.rs): the views and materialized
-- views in $1 (oid[]: those that read tenant-scoped tables, found through
-- view_edges.sql) with their owners.
WITH owners (oid, name, bypasses, may_bypass) AS (
     -- the tenant_bypass policy applies to an owner who is a member of
     -- tenant_bypass: any reader of the view that sets app.bypass_rls = on
     -- gets it
     SELECT o.oid, o.rolname::text, o.rolsuper OR o.rolbypassrls, pg_has_role(o.oid, 'tenant_bypass', 'USAGE')
       FROM pg_roles o
)
SELECT v.oid::int8::text,
       quote_ident(n.nspname::text) || '.' || quote_ident(v.relname::text),
       v.relkind::text, o.name, o.bypasses::text,
       coalesce(array_to_string(v.reloptions, ',') ~ 'security_invoker=(true|on|1|yes)', false)::text,
       o.may_bypass::text
  FROM pg_class v
  JOIN pg_namespace n ON n.oid = v.relnamespace
  JOIN owners o ON o.oid = v.relowner
 WHERE v.oid = ANY ($1)
