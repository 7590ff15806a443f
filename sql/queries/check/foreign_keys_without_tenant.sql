-- foreign_keys_without_tenant (src/check/leaks.rs); $1 is the tenant column's name.
SELECT k.conrelid::regclass::text, k.conname::text, k.confrelid::regclass::text,
        (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n) FROM unnest(k.conkey) WITH ORDINALITY AS u (attnum, n)
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum),
        (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n) FROM unnest(k.confkey) WITH ORDINALITY AS u (attnum, n)
           JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum)
   FROM pg_constraint k
   JOIN pg_attribute t ON t.attrelid = k.conrelid AND t.attname = $1
  WHERE k.contype = 'f' AND k.conrelid IN (SELECT relid FROM tenant.tables) AND k.confrelid IN (SELECT relid FROM tenant.tables)
    AND NOT (t.attnum = ANY (k.conkey))
  ORDER BY 1, 2
