-- Moving a tenant: tenant_export streams one tenant's rows (registry and
-- tenant-scoped tables, parents first) with an end row of per-table
-- digests; tenant_import loads an export kept in a table under the same or
-- a new id and slug. Every bad input is refused and changes nothing.
-- (Moving between databases and restoring from a backup: tests/transfer.)
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT tenant_create('Moving Co', 'moving-co') IS NOT NULL AS created,
       tenant_create('Staying Co', 'staying-co') IS NOT NULL AS created;
UPDATE tenant.tenants SET id = CASE slug
    WHEN 'moving-co'  THEN '7a7a7000-0000-4000-8000-00000000a007'::uuid
    WHEN 'staying-co' THEN '7b7b7000-0000-4000-8000-00000000b007'::uuid END
 WHERE slug IN ('moving-co', 'staying-co');
-- An operator (tenant_admin) who holds only what it is granted on the tables.
CREATE ROLE tr_operator;
GRANT tenant_admin TO tr_operator;
GRANT tr_operator TO migrator;
SET ROLE migrator;
SELECT tenant_member_add('moving-co', '77777777-7777-4777-8777-777777777777', 'owner');
SELECT tenant_setting_set('moving-co', 'branding.color', '"blue"');
-- Values of many types, a generated and an identity column, a column name
-- that needs quoting, and a self-referencing table whose child rows sort
-- before their parents.
CREATE TYPE tr_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE tr_things (
    tenant_id uuid NOT NULL, id int GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (tenant_id, id),
    "Odd ""Name""" text,
    amount numeric, ratio float8, mood tr_mood, span int4range, at timestamptz,
    took interval, raw bytea, tags text[], doc json, twice int GENERATED ALWAYS AS (id * 2) STORED);
CREATE TABLE tr_tree (tenant_id uuid NOT NULL, id text, parent text, label text, PRIMARY KEY (tenant_id, id),
                      FOREIGN KEY (tenant_id, parent) REFERENCES tr_tree (tenant_id, id));
SELECT tenant_enable('tr_things') IS NOT NULL AS enabled, tenant_enable('tr_tree') IS NOT NULL AS enabled;
GRANT SELECT, INSERT ON tr_things, tr_tree TO app_user;
-- tr_things is audited: its entries move with the tenant.
SELECT tenant_audit_enable('tr_things') IS NOT NULL AS audited;
RESET ROLE;
-- tr_operator may read and write every tenant-scoped table (of this and the
-- earlier tests) but tr_tree.
DO $$ DECLARE t regclass; BEGIN
  FOR t IN SELECT relid FROM tenant.tables WHERE relid <> 'tr_tree'::regclass LOOP
    EXECUTE format('GRANT SELECT, INSERT ON %s TO tr_operator', t);
  END LOOP; END $$;
-- Row counts of everything an import writes (read as the superuser).
CREATE FUNCTION tr_counts() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
    SELECT (SELECT count(*) FROM tenant.tenants) || ' tenants, ' || (SELECT count(*) FROM tenant.members) || ' members, '
        || (SELECT count(*) FROM tenant.settings) || ' settings, '
        || (SELECT count(*) FROM public.tr_things) || ' things, ' || (SELECT count(*) FROM public.tr_tree) || ' tree rows' $$;

\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT act_as('moving-co');
SET LOCAL TimeZone = 'Asia/Kolkata';
SET LOCAL IntervalStyle = 'sql_standard';
INSERT INTO tr_things ("Odd ""Name""", amount, ratio, mood, span, at, took, raw, tags, doc) VALUES
    (E'tab\there, quote '' and back\\slash', 12.500, 'NaN', 'happy', '[1,5)', '2026-03-01 10:00+05:30',
     '1 day 2 hours', '\x00ff', '{a,"b c",NULL}', '{"k":  1, "k": 2}'),
    (NULL, NULL, '-0', NULL, 'empty', NULL, NULL, NULL, '{}', 'null');
INSERT INTO tr_tree (id, parent, label) VALUES ('z-root', NULL, 'root'), ('a-child', 'z-root', 'child');
COMMIT;
BEGIN;
SELECT act_as('staying-co');
INSERT INTO tr_tree (id, parent, label) VALUES ('staying', NULL, 'not moved');
COMMIT;
-- The application cannot export or import.
SELECT count(*) FROM tenant_export('moving-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM tenant_import('tr_things');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c - migrator
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
-- A tenant-scoped table with row-level security policies of its own (one
-- of an earlier test's) is refused, not read past them as its owner.
SELECT count(*) FROM tenant_export('moving-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c - postgres
DO $$ DECLARE p record; BEGIN
  FOR p IN SELECT polname, polrelid::regclass AS rel FROM pg_policy
            WHERE polrelid IN (SELECT relid FROM tenant.tables) AND polname NOT IN ('tenant_isolation', 'tenant_bypass') LOOP
    EXECUTE format('DROP POLICY %I ON %s', p.polname, p.rel);
  END LOOP; END $$;
\c - migrator
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on

-- The export, as the operator: a header, each table (its columns), its
-- rows (the tenant's only, values as text, generated columns left out),
-- and the end row with rows and digests per table.
-- (Registry rows carry timestamps of this run: their rows and digests are
-- shown elsewhere. The tables of the earlier tests, with no row of this
-- tenant, are left out here.)
SELECT seq, kind, relation, CASE kind WHEN 'header' THEN data - 'exported_at' WHEN 'end' THEN NULL ELSE data END AS data
  FROM tenant_export('moving-co')
 WHERE (kind <> 'row' OR relation LIKE 'public.tr\_%') AND (relation IS NULL OR relation ~ '^(tenant\.|public\.tr_)')
 ORDER BY seq;
SELECT t->>'relation' AS relation, t->'rows' AS rows,
       CASE WHEN t->>'relation' LIKE 'public.%' THEN t->>'sha256' ELSE '(varies)' END AS sha256
  FROM tenant_export('moving-co') e, jsonb_array_elements(e.data->'tables') t
 WHERE e.kind = 'end' AND t->>'relation' ~ '^(tenant\.|public\.tr_)';
SELECT count(*) AS tables, sum((t->>'rows')::int) AS rows
  FROM tenant_export('moving-co') e, jsonb_array_elements(e.data->'tables') t
 WHERE e.kind = 'end' AND t->>'relation' !~ '^(tenant\.|public\.tr_)';
SELECT data->>'slug' AS slug, data->>'status' AS status, data ? 'id' AS has_id
  FROM tenant_export('7a7a7000-0000-4000-8000-00000000a007') WHERE kind = 'row' AND relation = 'tenant.tenants';

-- Bad inputs of tenant_export.
SELECT count(*) FROM tenant_export(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM tenant_export('no-such-tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- An operator who may not read a tenant-scoped table cannot export it.
SET ROLE tr_operator;
SELECT count(*) FROM tenant_export('moving-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Kept in a table, as \copy would load it.
CREATE TABLE tr_export (seq bigint, kind text, relation text, data jsonb);
INSERT INTO tr_export SELECT * FROM tenant_export('moving-co');
SELECT tr_counts() AS before;

-- Bad inputs of tenant_import: nothing is imported by any of them.
SELECT * FROM tenant_import(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant_import('tr_things');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant_import('tr_export');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant_import('tr_export', slug => 'moving-co-2');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant_import('tr_export', id => '7c7c7000-0000-4000-8000-00000000c007');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant_import('tr_export', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'staying-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant_import('tr_export', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'Not A Slug');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE tr_bad AS SELECT * FROM tr_export;
-- Not an export at all; a newer version; no end row; an edited value; a row
-- outside its table; a table this database does not have; a column it lacks.
DELETE FROM tr_bad WHERE kind = 'header';
SELECT * FROM tenant_import('tr_bad', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE tr_bad; INSERT INTO tr_bad SELECT * FROM tr_export;
UPDATE tr_bad SET data = jsonb_set(data, '{version}', '2') WHERE kind = 'header';
SELECT * FROM tenant_import('tr_bad', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE tr_bad; INSERT INTO tr_bad SELECT * FROM tr_export WHERE kind <> 'end';
SELECT * FROM tenant_import('tr_bad', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE tr_bad; INSERT INTO tr_bad SELECT * FROM tr_export;
UPDATE tr_bad SET data = jsonb_set(data, '{label}', '"grown"') WHERE relation = 'public.tr_tree' AND data->>'id' = 'z-root';
SELECT * FROM tenant_import('tr_bad', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE tr_bad; INSERT INTO tr_bad SELECT * FROM tr_export;
UPDATE tr_bad SET seq = seq * 10;
UPDATE tr_bad SET seq = (SELECT seq FROM tr_bad WHERE kind = 'table' AND relation = 'public.tr_tree') + 5
 WHERE kind = 'row' AND relation = 'public.tr_things' AND data->>'id' = '2';
SELECT * FROM tenant_import('tr_bad', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE tr_bad; INSERT INTO tr_bad SELECT * FROM tr_export;
UPDATE tr_bad SET relation = 'public.tr_nowhere' WHERE relation = 'public.tr_tree';
SELECT * FROM tenant_import('tr_bad', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE tr_bad; INSERT INTO tr_bad SELECT * FROM tr_export;
UPDATE tr_bad SET data = jsonb_set(data, '{columns}', data->'columns' || '["shoe_size"]')
 WHERE kind = 'table' AND relation = 'public.tr_tree';
SELECT * FROM tenant_import('tr_bad', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- An operator who may not write a tenant-scoped table cannot import into it.
GRANT SELECT ON tr_export TO tr_operator;
SET ROLE tr_operator;
SELECT * FROM tenant_import('tr_export', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT tr_counts() AS after_refusals;

-- A user-defined cast from text would stand in for a type's input function
-- (as the table's owner), and a deferred foreign key cannot be checked
-- inside the owner's security-restricted operation: both are refused.
CREATE FUNCTION tr_mood_from_text(text) RETURNS tr_mood LANGUAGE sql AS $$ SELECT 'ok'::tr_mood $$;
CREATE CAST (text AS tr_mood) WITH FUNCTION tr_mood_from_text(text);
SELECT * FROM tenant_import('tr_export', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP CAST (text AS tr_mood);
DROP FUNCTION tr_mood_from_text(text);
ALTER TABLE tr_tree ALTER CONSTRAINT tr_tree_tenant_id_parent_fkey DEFERRABLE INITIALLY DEFERRED;
SELECT * FROM tenant_import('tr_export', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE tr_tree ALTER CONSTRAINT tr_tree_tenant_id_parent_fkey NOT DEFERRABLE;

-- A copy under a new id and slug: every table's rows and digests are the
-- export's; the values read back exactly; the identity column's sequence
-- (set back here) is moved past the ids imported.
ALTER TABLE tr_things ALTER COLUMN id RESTART WITH 1;
SELECT i.relation, i.rows_imported, i.rows_sha256 = e.sha256 AS digest_matches
  FROM tenant_import('tr_export', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co') i
  LEFT JOIN (SELECT t->>'relation' AS relation, t->>'sha256' AS sha256
          FROM tr_export, jsonb_array_elements(data->'tables') t WHERE kind = 'end') e USING (relation)
 WHERE i.rows_imported > 0 OR i.relation !~ '^public\.' OR i.rows_sha256 IS DISTINCT FROM e.sha256;
SELECT tr_counts() AS after_import;
SELECT slug, name, status FROM tenant.tenants WHERE id = '7c7c7000-0000-4000-8000-00000000c007';
SELECT user_id, role FROM tenant.members WHERE tenant_id = '7c7c7000-0000-4000-8000-00000000c007';
SELECT * FROM tenant_usage_reconcile('copy-co');
-- The audit entries moved with the tenant, naming the new tenant, and the
-- import's own inserts are recorded as written by the operator.
SELECT operation, db_role, key ? 'id' AS keyed, count(*)
  FROM tenant.audit_log WHERE tenant_id = '7c7c7000-0000-4000-8000-00000000c007'
 GROUP BY 1, 2, 3 ORDER BY 1, 2;
SELECT count(*) AS entries_naming_the_exported_tenant FROM tenant.audit_log
 WHERE tenant_id = '7c7c7000-0000-4000-8000-00000000c007'
   AND (key::text || coalesce(new_values::text, '') || coalesce(old_values::text, '')) LIKE '%7a7a7000%';
SELECT (SELECT array_agg(e.data ORDER BY e.seq) FROM tenant_export('moving-co') e WHERE e.kind IN ('table', 'row')
           AND e.relation LIKE 'public.%')
     = (SELECT array_agg(c.data ORDER BY c.seq) FROM tenant_export('copy-co') c WHERE c.kind IN ('table', 'row')
           AND c.relation LIKE 'public.%') AS same_rows;

\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
-- The application sees the copy's rows under the copy's tenant only, with
-- their values as they were written.
BEGIN;
SELECT act_as('copy-co');
SET LOCAL TimeZone = 'UTC';
SELECT id, "Odd ""Name""", amount, ratio, mood, span, at, took, raw, tags, doc, twice FROM tr_things ORDER BY id;
SELECT id, parent, label FROM tr_tree ORDER BY id;
INSERT INTO tr_things ("Odd ""Name""") VALUES ('new') RETURNING id;
ROLLBACK;
BEGIN;
SELECT act_as('staying-co');
SELECT id, label FROM tr_tree ORDER BY id;
COMMIT;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
-- Replacing a tenant with an export: purge and import in one transaction.
BEGIN;
SELECT count(*) AS tables_purged FROM tenant_purge('copy-co', force => true);
SELECT count(*) AS tables_imported FROM tenant_import('tr_export', id => '7c7c7000-0000-4000-8000-00000000c007', slug => 'copy-co');
COMMIT;
SELECT tr_counts() AS after_replace;

SELECT count(*) AS tables_purged FROM tenant_purge('copy-co', force => true);
SELECT count(*) AS tables_purged FROM tenant_purge('moving-co', force => true);
SELECT count(*) AS tables_purged FROM tenant_purge('staying-co', force => true);
DROP TABLE tr_export, tr_bad, tr_things, tr_tree;
DROP FUNCTION tr_counts();
DROP TYPE tr_mood;
DROP OWNED BY tr_operator;
DROP ROLE tr_operator;
