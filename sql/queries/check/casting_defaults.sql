-- casting_defaults (src/check/hygiene.rs): column defaults of user tables
-- that cast current_setting('app.current_tenant' or 'app.current_user_id')
-- straight to a type: an unset context ('') then fails the cast (22P02)
-- before pg_tenant can refuse it clearly. (table, column, default,
-- tenant-scoped, the column is tenant_id); $1 is the tenant column's name.
SELECT c.oid::regclass::text, quote_ident(a.attname), pg_get_expr(d.adbin, d.adrelid),
       (c.oid IN (SELECT relid FROM tenant.tables))::text, (a.attname = $1)::text
  FROM pg_attrdef d
  JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum AND NOT a.attisdropped
  JOIN pg_class c ON c.oid = d.adrelid AND c.relkind IN ('r', 'p')
 WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
   -- only defaults that call current_setting are deparsed
   AND d.adbin::text LIKE ANY (ARRAY['%:funcid ' || 'pg_catalog.current_setting(text)'::regprocedure::oid || ' %',
                                     '%:funcid ' || 'pg_catalog.current_setting(text, boolean)'::regprocedure::oid || ' %'])
   AND pg_get_expr(d.adbin, d.adrelid) ~ '\(current_setting\(''app\.current_(tenant|user_id)''::text(, (true|false))?\)\)::'
 ORDER BY 1, 2
