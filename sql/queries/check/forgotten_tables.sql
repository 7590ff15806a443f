-- forgotten_tables: continues sql/queries/check/relatives.sql (joined at compile time).

 SELECT c.oid::regclass::text, c.relkind::text FROM pg_class c
   JOIN pg_namespace n ON n.oid = c.relnamespace
   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped
  WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'tenant')
    AND n.nspname NOT LIKE 'pg\_%'
    AND c.oid NOT IN (SELECT relid FROM tenant.tables)
    AND c.oid NOT IN (SELECT relid FROM relatives)
  ORDER BY 1
