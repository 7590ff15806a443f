-- The catalog state of tables, one jsonb per relation in $1 (oid[]), read
-- into tables::state::TableState by serde; $2 is the tenant column's name.
-- Runs with search_path = pg_catalog, pg_temp (pg_tenant's functions pin it).
SELECT pg_catalog.jsonb_build_object(
           'qualified_name', pg_catalog.quote_ident(n.nspname::text) || '.' || pg_catalog.quote_ident(c.relname::text),
           'schema', n.nspname::text,
           'name', c.relname::text,
           'kind', c.relkind::text,
           'rls_enabled', c.relrowsecurity,
           'rls_forced', c.relforcerowsecurity,
           'column', CASE WHEN a.attnum IS NOT NULL THEN pg_catalog.jsonb_build_object(
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
               SELECT i.indexrelid::pg_catalog.regclass::text FROM pg_catalog.pg_index i
                WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum AND i.indpred IS NULL AND i.indisvalid
                ORDER BY i.indexrelid LIMIT 1),
           -- A partition's clone of its parent's trigger is marked internal up to
           -- PostgreSQL 14 (tgparentid names the parent's).
           'fill_trigger', (
               SELECT pg_catalog.jsonb_build_object(
                          'function', t.tgfoid::pg_catalog.regprocedure::text,
                          'kind', t.tgtype,
                          'enabled', t.tgenabled <> 'D')
                 FROM pg_catalog.pg_trigger t
                WHERE t.tgrelid = c.oid AND t.tgname = 'tenant_set_id' AND (NOT t.tgisinternal OR t.tgparentid <> 0)),
           'registered', EXISTS (SELECT FROM tenant.tables t WHERE t.relid = c.oid),
           'track_usage', coalesce((SELECT t.track_usage FROM tenant.tables t WHERE t.relid = c.oid), false),
           'policies', coalesce((
               SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                          'name', p.polname::text,
                          'command', p.polcmd::text,
                          'permissive', p.polpermissive,
                          'roles', (SELECT pg_catalog.jsonb_agg(
                                               CASE WHEN r = 0 THEN 'public'
                                                    ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)::text) END
                                               ORDER BY 1)
                                      FROM pg_catalog.unnest(p.polroles) AS r),
                          'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                          'with_check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid),
                          'using_tree', p.polqual::text,
                          'with_check_tree', p.polwithcheck::text) ORDER BY p.polname)
                 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid), '[]'),
           'usage_triggers', coalesce((
               SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                          'name', t.tgname::text,
                          'function', t.tgfoid::pg_catalog.regprocedure::text,
                          'kind', t.tgtype,
                          'enabled', t.tgenabled <> 'D',
                          'old_table', coalesce(t.tgoldtable::text, ''),
                          'new_table', coalesce(t.tgnewtable::text, '')) ORDER BY t.tgname)
                 FROM pg_catalog.pg_trigger t
                WHERE t.tgrelid = c.oid AND t.tgname::text LIKE 'tenant\_usage\_%' AND (NOT t.tgisinternal OR t.tgparentid <> 0)), '[]'))
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.oid = ANY ($1)
 ORDER BY pg_catalog.quote_ident(n.nspname::text) || '.' || pg_catalog.quote_ident(c.relname::text)
