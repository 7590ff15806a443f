-- extended_statistics (src/check/server.rs): CREATE STATISTICS objects on
-- tenant-scoped tables, (statistics object, table).
SELECT quote_ident(n.nspname) || '.' || quote_ident(s.stxname), s.stxrelid::regclass::text
  FROM pg_statistic_ext s
  JOIN pg_namespace n ON n.oid = s.stxnamespace
 WHERE s.stxrelid IN (SELECT relid FROM tenant.tables)
 ORDER BY 1
