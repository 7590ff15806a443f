-- foreign_keys_without_tenant (src/check/leaks.rs); $1 is the tenant column's name.
-- Foreign keys into a tenant-scoped table whose referencing columns do not
-- include tenant_id, from tenant-scoped tables and from any other table (the
-- last column says which): either way an insert probes every tenant's keys.
SELECT k.conrelid::regclass::text, k.conname::text, k.confrelid::regclass::text,
        (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n) FROM unnest(k.conkey) WITH ORDINALITY AS u (attnum, n)
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum),
        (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n) FROM unnest(k.confkey) WITH ORDINALITY AS u (attnum, n)
           JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum),
        (k.conrelid IN (SELECT relid FROM tenant.tables))::text
   FROM pg_constraint k
   LEFT JOIN pg_attribute t ON t.attrelid = k.conrelid AND t.attname = $1 AND NOT t.attisdropped
  WHERE k.contype = 'f' AND k.confrelid IN (SELECT relid FROM tenant.tables)
    AND (t.attnum IS NULL OR NOT (t.attnum = ANY (k.conkey)))
  ORDER BY 1, 2
