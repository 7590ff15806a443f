-- exclusions_without_tenant (src/check/leaks.rs); $1 is the tenant column's name.
SELECT k.conrelid::regclass::text, k.conname::text, pg_get_constraintdef(k.oid), am.amname::text,
    (SELECT string_agg(pg_get_indexdef(k.conindid, u.n::int, true) || ' WITH ' || o.oprname, ', ' ORDER BY u.n)
       FROM unnest(k.conexclop) WITH ORDINALITY AS u (op, n) JOIN pg_operator o ON o.oid = u.op),
    (t.attnum = ANY (k.conkey))::text,
    (NOT EXISTS (SELECT FROM pg_opclass oc
                  WHERE oc.opcmethod = am.oid AND oc.opcintype = t.atttypid AND oc.opcdefault))::text
           FROM pg_constraint k
           JOIN pg_class i ON i.oid = k.conindid
           JOIN pg_am am ON am.oid = i.relam
           JOIN pg_attribute t ON t.attrelid = k.conrelid AND t.attname = $1 AND NOT t.attisdropped
          WHERE k.contype = 'x' AND k.conrelid IN (SELECT relid FROM tenant.tables)
AND NOT EXISTS (SELECT FROM unnest(k.conkey, k.conexclop) AS u (attnum, op)
                  JOIN pg_amop e ON e.amopopr = u.op AND e.amopstrategy = 3
                  JOIN pg_am b ON b.oid = e.amopmethod AND b.amname = 'btree'
                 WHERE u.attnum = t.attnum)
          ORDER BY 1, 2
