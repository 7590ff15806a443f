-- serial_columns (src/check/leaks.rs); $1 is the tenant column's name.
SELECT c.oid::regclass::text, quote_ident(a.attname)
   FROM pg_class c
   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE c.oid IN (SELECT relid FROM tenant.tables)
    AND (a.attidentity <> ''
         OR (d.adbin::text LIKE '%:funcid ' || 'pg_catalog.nextval(regclass)'::regprocedure::oid || ' %'
             AND pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%'))
  ORDER BY 1, 2
