-- Erasure with proof: tenant_purge reports what it removed per table with a
-- digest of the removed keys, proves no row of the tenant remains, leaves
-- every other tenant alone, and writes an erasure record that outlives the
-- data and that nobody changes.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT tenant_create('Erased Co', 'erased-co') IS NOT NULL AS created,
       tenant_create('Kept Co', 'kept-co') IS NOT NULL AS created;
UPDATE tenant.tenants SET id = CASE slug
    WHEN 'erased-co' THEN 'e5a5e000-0000-4000-8000-00000000e005'::uuid
    WHEN 'kept-co'   THEN 'f6f6f000-0000-4000-8000-00000000f006'::uuid END
 WHERE slug IN ('erased-co', 'kept-co');
SET ROLE migrator;
SELECT tenant_member_add('erased-co', '77777777-7777-4777-8777-777777777777', 'owner');
SELECT tenant_setting_set('erased-co', 'branding.color', '"red"');
-- A table with a composite primary key, one without a primary key, and a
-- partitioned table whose partitions are tenant-scoped with it.
CREATE TABLE er_projects (tenant_id uuid NOT NULL, id int, name text, PRIMARY KEY (tenant_id, id));
CREATE TABLE er_notes (tenant_id uuid NOT NULL, body text);
CREATE TABLE er_events (tenant_id uuid NOT NULL, id int, at date NOT NULL, PRIMARY KEY (tenant_id, id, at))
    PARTITION BY RANGE (at);
CREATE TABLE er_events_2025 PARTITION OF er_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE er_events_2026 PARTITION OF er_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT tenant_enable('er_projects') IS NOT NULL AS enabled, tenant_enable('er_notes') IS NOT NULL AS enabled,
       tenant_enable('er_events') IS NOT NULL AS enabled;
GRANT SELECT, INSERT, UPDATE, DELETE ON er_projects, er_notes, er_events TO app_user;
RESET ROLE;

-- Both tenants write through the application role.
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT act_as('erased-co');
INSERT INTO er_projects (id, name) VALUES (1, 'one'), (2, 'two'), (10, 'ten');
INSERT INTO er_notes (body) VALUES ('a note'), ('another, with a comma');
INSERT INTO er_events (id, at) VALUES (1, '2025-06-01'), (2, '2026-02-01');
COMMIT;
BEGIN;
SELECT act_as('kept-co');
INSERT INTO er_projects (id, name) VALUES (1, 'kept one'), (2, 'kept two');
INSERT INTO er_notes (body) VALUES ('kept note');
INSERT INTO er_events (id, at) VALUES (1, '2025-06-01');
COMMIT;
-- The application cannot purge, nor read or write the erasure records.
SELECT * FROM tenant_purge('erased-co', force => true);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM tenant.erasures;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO tenant.erasures (tenant_id, erased_by, session_role, via, forced, tables, rows_removed, keys_sha256, checked_tables)
VALUES ('e5a5e000-0000-4000-8000-00000000e005', 'x', 'x', 'tenant_purge', false, '[]', 0, '', 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on

-- What the digests will be, computed beforehand from the keys as documented
-- (docs/reference.md, "Erasure records"): the primary key as a row literal,
-- or the whole row without one, sorted byte by byte, one per line.
-- Values print as the purge prints them: ISO dates, UTC, Postgres
-- intervals, extra_float_digits 1, hex bytea (the regression tests run with
-- DateStyle 'Postgres, MDY', whose dates would not match).
SET DateStyle = 'ISO, MDY';
SET TimeZone = 'UTC';
CREATE TEMP TABLE expected AS
SELECT relation, count(*) AS rows,
       encode(sha256(convert_to(string_agg(k || E'\n', '' ORDER BY k COLLATE "C"), 'UTF8')), 'hex') AS keys_sha256
  FROM (SELECT 'public.er_projects' AS relation, ROW(t.tenant_id, t.id)::text AS k FROM er_projects t WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005'
        UNION ALL
        SELECT 'public.er_notes', ROW(t.*)::text FROM er_notes t WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005'
        UNION ALL
        SELECT 'public.er_events', ROW(t.tenant_id, t.id, t.at)::text FROM er_events t WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005') keys
 GROUP BY relation;
RESET DateStyle;
RESET TimeZone;
SELECT relation, rows FROM expected ORDER BY relation;
CREATE TEMP TABLE kept_before AS
SELECT 'er_projects' AS t, count(*) AS n FROM er_projects WHERE tenant_id = 'f6f6f000-0000-4000-8000-00000000f006'
UNION ALL SELECT 'er_notes', count(*) FROM er_notes WHERE tenant_id = 'f6f6f000-0000-4000-8000-00000000f006'
UNION ALL SELECT 'er_events', count(*) FROM er_events WHERE tenant_id = 'f6f6f000-0000-4000-8000-00000000f006';

-- A purge a trigger defeats fails, names the table, and changes nothing.
CREATE FUNCTION er_keep_rows() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER er_keep BEFORE DELETE ON er_notes FOR EACH ROW EXECUTE FUNCTION er_keep_rows();
SET ROLE migrator;
SELECT * FROM tenant_purge('erased-co', force => true);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS erased_co_projects_still_there FROM er_projects WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005';
SELECT count(*) AS erased_co_still_registered FROM tenant.tenants WHERE slug = 'erased-co';
SELECT count(*) AS erased_co_members_still_there FROM tenant.members WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005';
SELECT count(*) AS erasure_records FROM tenant.erasures WHERE tenant_id IN ('e5a5e000-0000-4000-8000-00000000e005', 'e9e9e000-0000-4000-8000-00000000e009');
DROP TRIGGER er_keep ON er_notes;
-- A rule that replaces the delete (which the DDL guard refuses unless a
-- superuser turns it off) makes the purge fail too (0A000), with nothing
-- changed.
SET pg_tenant.ddl_guard = 'off';
CREATE RULE er_keep AS ON DELETE TO er_projects DO INSTEAD NOTHING;
RESET pg_tenant.ddl_guard;
SET ROLE migrator;
SELECT * FROM tenant_purge('erased-co', force => true);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS erasure_records FROM tenant.erasures WHERE tenant_id IN ('e5a5e000-0000-4000-8000-00000000e005', 'e9e9e000-0000-4000-8000-00000000e009');
SET pg_tenant.ddl_guard = 'off';
DROP RULE er_keep ON er_projects;
RESET pg_tenant.ddl_guard;

-- The purge: per table what it removed and the digest of the removed keys,
-- tenant-scoped tables first, then the registry's rows.
SET ROLE migrator;
SET app.current_user_id = '88888888-8888-4888-8888-888888888888';
CREATE TEMP TABLE purged AS SELECT * FROM tenant_purge('erased-co', force => true);
RESET app.current_user_id;
RESET ROLE;
SELECT relation, rows_deleted FROM purged ORDER BY relation;
-- The digests are the ones computed beforehand from the keys.
SELECT p.relation, p.rows_deleted = e.rows AS rows_match, p.keys_sha256 = e.keys_sha256 AS digest_matches
  FROM purged p JOIN expected e USING (relation) ORDER BY 1;
-- A table the tenant had no row in has the digest of nothing.
SELECT relation, keys_sha256 = encode(sha256(''), 'hex') AS empty_digest
  FROM purged WHERE rows_deleted = 0 ORDER BY 1;
-- The tenant's registry rows are digested too (members: tenant and user).
SELECT p.keys_sha256 = encode(sha256(convert_to('(e5a5e000-0000-4000-8000-00000000e005,77777777-7777-4777-8777-777777777777)' || E'\n', 'UTF8')), 'hex') AS members_digest
  FROM purged p WHERE relation = 'tenant.members';

-- Nothing of the tenant is left anywhere, partitions included; the other
-- tenant is untouched.
SELECT 'er_projects' AS t, count(*) AS left FROM er_projects WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005'
UNION ALL SELECT 'er_notes', count(*) FROM er_notes WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005'
UNION ALL SELECT 'er_events_2025', count(*) FROM er_events_2025 WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005'
UNION ALL SELECT 'er_events_2026', count(*) FROM er_events_2026 WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005'
UNION ALL SELECT 'tenant.tenants', count(*) FROM tenant.tenants WHERE id = 'e5a5e000-0000-4000-8000-00000000e005'
UNION ALL SELECT 'tenant.members', count(*) FROM tenant.members WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005'
UNION ALL SELECT 'tenant.settings', count(*) FROM tenant.settings WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005';
SELECT b.t, b.n AS before, a.n AS after FROM kept_before b
  JOIN (SELECT 'er_projects' AS t, count(*) AS n FROM er_projects WHERE tenant_id = 'f6f6f000-0000-4000-8000-00000000f006'
        UNION ALL SELECT 'er_notes', count(*) FROM er_notes WHERE tenant_id = 'f6f6f000-0000-4000-8000-00000000f006'
        UNION ALL SELECT 'er_events', count(*) FROM er_events WHERE tenant_id = 'f6f6f000-0000-4000-8000-00000000f006') a USING (t)
 ORDER BY 1;

-- The erasure record: who, how, what, and a digest over its tables' lines.
SELECT tenant_id, erased_by, session_role, app_user, via, forced, rows_removed,
       rows_removed = (SELECT sum(rows_deleted) FROM purged) AS rows_add_up,
       checked_tables >= 5 AS checked_every_table,
       erased_at <= now() AS erased_at_set
  FROM tenant.erasures WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005';
SELECT e.tables = (SELECT jsonb_agg(jsonb_build_object('relation', relation, 'rows', rows_deleted, 'keys_sha256', keys_sha256))
                     FROM purged) AS tables_as_returned
  FROM tenant.erasures e WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005';
SELECT e.keys_sha256 = encode(sha256(convert_to(
           (SELECT string_agg((t->>'relation') || E'\t' || (t->>'rows') || E'\t' || (t->>'keys_sha256') || E'\n', '' ORDER BY n)
              FROM jsonb_array_elements(e.tables) WITH ORDINALITY AS x (t, n)), 'UTF8')), 'hex') AS record_digest_matches
  FROM tenant.erasures e WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005';

-- Operators read the records; nobody changes them, not even the owner.
SET ROLE migrator;
SELECT count(*) AS records_an_operator_sees FROM tenant.erasures WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005';
UPDATE tenant.erasures SET forced = true WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
UPDATE tenant.erasures SET forced = true;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM tenant.erasures;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE tenant.erasures;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS records_kept FROM tenant.erasures WHERE tenant_id = 'e5a5e000-0000-4000-8000-00000000e005';

-- tenant_purge_expired leaves a record per tenant it purges.
SET ROLE migrator;
SELECT tenant_create('Expired Co', 'expired-co', id => 'e9e9e000-0000-4000-8000-00000000e009') IS NOT NULL AS created;
SELECT tenant_delete('expired-co');
RESET ROLE;
UPDATE tenant.tenants SET deleted_at = now() - interval '45 days' WHERE slug = 'expired-co';
SET ROLE migrator;
SELECT tenant_purge_expired() AS purged;
RESET ROLE;
SELECT via, forced, erased_by, rows_removed, checked_tables >= 5 AS checked_every_table
  FROM tenant.erasures WHERE tenant_id = 'e9e9e000-0000-4000-8000-00000000e009';
-- A table whose deletes would queue an INITIALLY DEFERRED trigger (which
-- Postgres cannot queue in the owner's security-restricted operation the
-- deletes run in): refused before anything is deleted, naming it.
SET ROLE migrator;
CREATE TABLE er_deferred (id int PRIMARY KEY, tenant_id uuid, body text);
SELECT tenant_enable('er_deferred') IS NOT NULL AS enabled;
CREATE FUNCTION er_deferred_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER er_deferred_check AFTER DELETE ON er_deferred
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION er_deferred_check();
SELECT tenant_create('Deferred Co', 'deferred-co') IS NOT NULL AS created;
BEGIN;
SELECT act_as('deferred-co');
INSERT INTO er_deferred (id, body) VALUES (1, 'kept until the purge');
COMMIT;
SELECT tenant_delete('deferred-co') IS NOT NULL AS deleted;
SELECT * FROM tenant_purge('deferred-co', force => true);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS still_there FROM tenant.tenants WHERE slug = 'deferred-co';
DROP TRIGGER er_deferred_check ON er_deferred;
SELECT count(*) > 0 AS purged FROM tenant_purge('deferred-co', force => true);
SELECT tenant_disable('er_deferred') IS NOT NULL AS disabled;
DROP TABLE er_deferred;
DROP FUNCTION er_deferred_check();
RESET ROLE;
-- Unknown and NULL tenants change nothing.
SET ROLE migrator;
SELECT * FROM tenant_purge('no-such-tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant_purge(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS erasure_records FROM tenant.erasures WHERE tenant_id IN ('e5a5e000-0000-4000-8000-00000000e005', 'e9e9e000-0000-4000-8000-00000000e009');
DROP TABLE er_projects, er_notes, er_events;
DROP FUNCTION er_keep_rows();
