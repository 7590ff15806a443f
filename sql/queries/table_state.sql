-- The catalog state of tables, one JSON text per relation in $1 (oid[]), read
-- into tables::state::TableState by serde; $2 is the tenant column's name.
-- Runs with search_path = pg_catalog, pg_temp (pg_tenant's functions pin it).
SELECT pg_catalog.json_build_object(
           'oid', c.oid::pg_catalog.int8,
           'qualified_name', pg_catalog.quote_ident(n.nspname::text) || '.' || pg_catalog.quote_ident(c.relname::text),
           'schema', n.nspname::text,
           'name', c.relname::text,
           'kind', c.relkind::text,
           'rls_enabled', c.relrowsecurity,
           'rls_forced', c.relforcerowsecurity,
           'column', CASE WHEN a.attnum IS NOT NULL THEN pg_catalog.json_build_object(
               'attnum', a.attnum,
               'type_name', pg_catalog.format_type(a.atttypid, a.atttypmod),
               'is_uuid', a.atttypid = 'pg_catalog.uuid'::pg_catalog.regtype,
               'not_null', a.attnotnull) END,
           'has_registry_fk', EXISTS (
               SELECT FROM pg_catalog.pg_constraint k
                 JOIN pg_catalog.pg_attribute r ON r.attrelid = k.confrelid AND r.attnum = k.confkey[1]
                WHERE k.conrelid = c.oid AND k.contype = 'f'
                  AND k.confrelid = 'tenant.tenants'::pg_catalog.regclass
                  AND k.conkey = ARRAY[a.attnum] AND r.attname = 'id'),
           'tenant_index', (
               -- Qualified always, as regclass prints a relation not on search_path
               -- (regclass output's visibility test costs more than the rest).
               SELECT pg_catalog.quote_ident(n.nspname::text) || '.' || pg_catalog.quote_ident(ic.relname::text)
                 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum AND i.indpred IS NULL AND i.indisvalid
                ORDER BY i.indexrelid LIMIT 1),
           'fill_trigger', fill.trigger,
           'registered', reg.relid IS NOT NULL,
           'track_usage', coalesce(reg.track_usage, false),
           'policies', coalesce(pol.policies, '[]'),
           'usage_triggers', coalesce(usage.triggers, '[]'))::text
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN tenant.tables reg ON reg.relid = c.oid
  -- One set-based pass over pg_policy and pg_trigger for all the tables
  -- (not a sub-select per table): tenant_check reads thousands at once.
  -- Policies and triggers as JSON arrays read into the structs in field
  -- order, with roles and functions as OIDs (tables::state names them once
  -- each): tens of thousands of JSON objects with names cost more than the
  -- rest of the query.
  LEFT JOIN (
      SELECT p.polrelid,
             pg_catalog.json_agg(pg_catalog.json_build_array(
                 p.oid::pg_catalog.int8, p.polname::text, p.polcmd::text, p.polpermissive,
                 p.polroles::pg_catalog.int8[]) ORDER BY p.polname) AS policies
        FROM pg_catalog.pg_policy p
       WHERE p.polrelid = ANY ($1)
       GROUP BY p.polrelid) pol ON pol.polrelid = c.oid
  -- pg_tenant's triggers. A partition's clone of its parent's trigger is
  -- marked internal up to PostgreSQL 14 (tgparentid names the parent's).
  LEFT JOIN (
      SELECT t.tgrelid,
             pg_catalog.json_agg(pg_catalog.json_build_array(
                 t.tgname::text, t.tgfoid::pg_catalog.int8, t.tgtype, t.tgenabled <> 'D',
                 coalesce(t.tgoldtable::text, ''), coalesce(t.tgnewtable::text, '')) ORDER BY t.tgname)
               AS triggers
        FROM pg_catalog.pg_trigger t
       WHERE t.tgrelid = ANY ($1) AND t.tgname::text LIKE 'tenant\_usage\_%' AND (NOT t.tgisinternal OR t.tgparentid <> 0)
       GROUP BY t.tgrelid) usage ON usage.tgrelid = c.oid
  LEFT JOIN (
      SELECT t.tgrelid, pg_catalog.json_build_array(t.tgfoid::pg_catalog.int8, t.tgtype, t.tgenabled <> 'D') AS trigger
        FROM pg_catalog.pg_trigger t
       WHERE t.tgrelid = ANY ($1) AND t.tgname = 'tenant_set_id' AND (NOT t.tgisinternal OR t.tgparentid <> 0)) fill
    ON fill.tgrelid = c.oid
 WHERE c.oid = ANY ($1)
 ORDER BY pg_catalog.quote_ident(n.nspname::text) || '.' || pg_catalog.quote_ident(c.relname::text)
