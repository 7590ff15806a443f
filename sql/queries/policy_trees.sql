-- The stored trees of the policies of the tables in $1 (oid[]), with what
-- else decides how pg_get_expr prints them: the names of the table's
-- columns, in order (tables::state prints each distinct combination once).
-- Runs with search_path = pg_catalog, pg_temp (pg_tenant's functions pin it).
SELECT p.oid::pg_catalog.int8,
       p.polrelid,
       p.polqual::pg_catalog.text,
       p.polwithcheck::pg_catalog.text,
       coalesce(col.names, '{}')
  FROM pg_catalog.pg_policy p
  LEFT JOIN (
      SELECT a.attrelid, pg_catalog.array_agg(a.attname ORDER BY a.attnum)::pg_catalog.text AS names
        FROM pg_catalog.pg_attribute a
       WHERE a.attrelid = ANY ($1) AND a.attnum > 0
       GROUP BY a.attrelid) col ON col.attrelid = p.polrelid
 WHERE p.polrelid = ANY ($1)
