-- unique_without_tenant (src/check/leaks.rs); $1 is the tenant column's name. Only key
-- columns count: a column an index INCLUDEs is stored, not part of what is unique.
SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, k.conname::text, k.contype::text,
        cols.names, cols.generated::text, pg_get_indexdef(i.indexrelid)
   FROM pg_index i
   JOIN pg_attribute t ON t.attrelid = i.indrelid AND t.attname = $1
   LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.contype IN ('p', 'u')
   CROSS JOIN LATERAL (
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n) AS names,
               bool_and(coalesce(a.attidentity <> ''
                                 OR pg_get_expr(d.adbin, d.adrelid) ~ '^(nextval|gen_random_uuid|uuid_generate)', false)) AS generated
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u (attnum, n)
          LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE u.n <= i.indnkeyatts) AS cols
  WHERE i.indisunique AND i.indrelid IN (SELECT relid FROM tenant.tables)
    AND NOT EXISTS (SELECT FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u (attnum, n)
                     WHERE u.n <= i.indnkeyatts AND u.attnum = t.attnum)
  ORDER BY 1, 2
