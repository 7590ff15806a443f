-- Audit: tenant_audit_enable records every insert, update and delete of a
-- tenant-scoped table in tenant.audit_log, in the writing transaction; a
-- tenant reads its own entries only; nobody changes them; operators expire
-- old ones.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT tenant_create('Audit Co', 'audit-co', id => 'a0d17000-0000-4000-8000-0000000a0001') IS NOT NULL AS created,
       tenant_create('Audit Other', 'audit-other', id => 'a0d17000-0000-4000-8000-0000000a0002') IS NOT NULL AS created;
SET ROLE migrator;
CREATE TABLE au_docs (tenant_id uuid NOT NULL, id int, title text, body text, PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('au_docs') IS NOT NULL AS enabled;
GRANT SELECT, INSERT, UPDATE, DELETE ON au_docs TO app_user, job;
-- The SQL it runs: three statement triggers with transition tables, the
-- primary key's columns as arguments.
SELECT tenant_audit_enable('au_docs');
SELECT tenant_audit_enable('au_docs');
-- Bad inputs: a table that is not tenant-scoped, one without a primary key,
-- a partitioned table, NULL.
CREATE TABLE au_plain (id int PRIMARY KEY);
SELECT tenant_audit_enable('au_plain');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE au_nokey (tenant_id uuid NOT NULL, note text);
SELECT tenant_enable('au_nokey') IS NOT NULL AS enabled;
SELECT tenant_audit_enable('au_nokey');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A DEFERRABLE primary key: one statement could hold two rows with one key,
-- and the audit pairs an UPDATE's rows by key.
CREATE TABLE au_deferrable (id int PRIMARY KEY DEFERRABLE, tenant_id uuid NOT NULL, note text);
SELECT tenant_enable('au_deferrable') IS NOT NULL AS enabled;
SELECT tenant_audit_enable('au_deferrable');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_disable('au_deferrable') IS NOT NULL AS disabled;
DROP TABLE au_deferrable;
CREATE TABLE au_parted (tenant_id uuid NOT NULL, id int, PRIMARY KEY (tenant_id, id)) PARTITION BY HASH (id);
SELECT tenant_enable('au_parted') IS NOT NULL AS enabled;
SELECT tenant_audit_enable('au_parted');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_audit_enable(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The DDL guard keeps the triggers: only tenant_audit_disable removes them.
DROP TRIGGER tenant_audit_update ON au_docs;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- An audited table refuses TRUNCATE (no trace) and tenant_disable (its log
-- is per tenant).
TRUNCATE au_docs;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_disable('au_docs');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Triggers named like pg_tenant's that are not its own are replaced, not
-- taken for auditing.
CREATE TABLE au_decoy (tenant_id uuid NOT NULL, id int, PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('au_decoy') IS NOT NULL AS enabled;
CREATE FUNCTION au_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER tenant_audit_insert AFTER INSERT ON au_decoy FOR EACH STATEMENT EXECUTE FUNCTION au_noop();
SELECT tenant_audit_enable('au_decoy') LIKE 'DROP TRIGGER tenant_audit_insert ON public.au_decoy;%' AS decoy_replaced;
SELECT tgname, tgfoid::regproc FROM pg_trigger WHERE tgrelid = 'au_decoy'::regclass AND tgname LIKE 'tenant\_audit\_%' ORDER BY 1;
-- Two audited tables with the same key and other columns, in one session:
-- each statement is recorded with its own table's columns.
CREATE TABLE au_other (tenant_id uuid NOT NULL, id int, secret text, amount numeric, PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('au_other') IS NOT NULL AS enabled;
SELECT tenant_audit_enable('au_other') IS NOT NULL AS audited;
GRANT SELECT, INSERT, UPDATE ON au_decoy, au_other TO app_user, job;
-- The owner's own code cannot write the log: a cast to json that tries
-- (to_jsonb calls it while the entries are computed) has no INSERT right.
CREATE TYPE au_mood AS ENUM ('ok');
CREATE FUNCTION au_mood_json(m au_mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant.audit_log (tenant_id, relation, operation, key, bypass)
    VALUES ('a0d17000-0000-4000-8000-0000000a0002', 'public.invoices', 'DELETE', '{"id": 42}', false);
    RETURN to_json(m::text);
END $$;
CREATE CAST (au_mood AS json) WITH FUNCTION au_mood_json(au_mood);
CREATE TABLE au_moods (tenant_id uuid NOT NULL, id int, m au_mood, PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('au_moods') IS NOT NULL AS enabled;
SELECT tenant_audit_enable('au_moods') IS NOT NULL AS audited;
BEGIN;
SELECT act_as('audit-co');
INSERT INTO au_moods (id, m) VALUES (1, 'ok');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;
SELECT count(*) AS forged FROM tenant.audit_log WHERE relation = 'public.invoices';

-- The application writes, as a user of the tenant.
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT act_as('audit-co');
SET LOCAL app.current_user_id = '0a0a0a0a-0000-4000-8000-0000000000aa';
INSERT INTO au_docs (id, title, body) VALUES (1, 'Plan', 'first draft'), (2, 'Notes', 'n');
UPDATE au_docs SET body = 'second draft' WHERE id = 1;
UPDATE au_docs SET title = title WHERE id = 2;
UPDATE au_docs SET id = 20 WHERE id = 2;
DELETE FROM au_docs WHERE id = 20;
INSERT INTO au_decoy (id) VALUES (1);
INSERT INTO au_other (id, secret, amount) VALUES (1, 's', 1);
UPDATE au_other SET amount = 1.0 WHERE id = 1;
COMMIT;
-- A user id that is not a UUID refuses the write, as everywhere in pg_tenant.
BEGIN;
SELECT act_as('audit-co');
SET LOCAL app.current_user_id = 'not-a-uuid';
INSERT INTO au_docs (id, title) VALUES (5, 'refused');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- A transaction that rolls back leaves no entry.
BEGIN;
SELECT act_as('audit-co');
INSERT INTO au_docs (id, title) VALUES (3, 'rolled back');
ROLLBACK;
BEGIN;
SELECT act_as('audit-other');
INSERT INTO au_docs (id, title) VALUES (1, 'other tenant''s');
COMMIT;
-- A tenant reads its own entries only.
BEGIN;
SELECT act_as('audit-co');
SELECT relation, operation, key, old_values, new_values, user_id, db_role, bypass
  FROM tenant.audit_log ORDER BY xact, relation, operation, key->>'id', new_values::text;
SELECT count(DISTINCT xact) AS transactions FROM tenant.audit_log;
COMMIT;
BEGIN;
SELECT act_as('audit-other');
SELECT operation, key, new_values->>'title' AS title FROM tenant.audit_log;
COMMIT;
-- The application cannot write, change or remove entries.
BEGIN;
SELECT act_as('audit-co');
INSERT INTO tenant.audit_log (tenant_id, relation, operation, key, bypass)
VALUES ('a0d17000-0000-4000-8000-0000000a0001', 'public.au_docs', 'INSERT', '{}', false);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE tenant.audit_log SET user_id = NULL;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM tenant.audit_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
SELECT tenant_audit_expire(interval '0');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_audit_disable('au_docs');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Writes with the bypass are recorded, each under its row's tenant.
\c - job
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true);
SELECT set_config('app.bypass_reason', 'regression test', true) IS NOT NULL AS reason_given;
UPDATE au_docs SET body = 'fixed by support' WHERE id = 1;
COMMIT;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT tenant_id, operation, new_values, db_role, bypass FROM tenant.audit_log
 WHERE db_role = 'job' ORDER BY tenant_id;
-- A row moved to another tenant with the bypass: the old tenant's entry
-- holds its old row, the new tenant's the new row; neither sees the other's.
\c - job
\set SHOW_CONTEXT never
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true);
SELECT set_config('app.bypass_reason', 'regression test', true) IS NOT NULL AS reason_given;
UPDATE au_other SET tenant_id = 'a0d17000-0000-4000-8000-0000000a0002', secret = 'moved' WHERE id = 1;
COMMIT;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT tenant_id, operation, old_values, new_values FROM tenant.audit_log
 WHERE relation = 'public.au_other' AND db_role = 'job' ORDER BY tenant_id;

-- Operators read every entry and expire old ones; bad ages are refused.
SET ROLE migrator;
SELECT count(*) AS entries_an_operator_sees FROM tenant.audit_log WHERE relation = 'public.au_docs';
SELECT tenant_audit_expire(interval '-1 day');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_audit_expire(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_audit_expire(interval '1 day') AS expired_none;
RESET ROLE;
UPDATE tenant.audit_log SET logged_at = logged_at - interval '400 days'
 WHERE relation = 'public.au_docs' AND operation = 'INSERT';
SET ROLE migrator;
SELECT tenant_audit_expire(interval '1 year') AS expired;
SELECT operation, count(*) FROM tenant.audit_log WHERE relation = 'public.au_docs' GROUP BY 1 ORDER BY 1;

-- A purge erases the tenant's entries with its data (tenant.audit_log in
-- its report), and records its own deletes in the erasure record only.
SELECT relation, rows_deleted FROM tenant_purge('audit-other', force => true)
 WHERE relation IN ('public.au_docs', 'tenant.audit_log');
SELECT count(*) AS audit_other_entries_left FROM tenant.audit_log WHERE tenant_id = 'a0d17000-0000-4000-8000-0000000a0002';

-- Disabling stops the recording and keeps the entries.
SELECT tenant_audit_disable('au_docs');
SELECT tenant_audit_disable('au_docs');
RESET ROLE;
BEGIN;
SELECT act_as('audit-co');
INSERT INTO au_docs (id, title) VALUES (4, 'not audited');
COMMIT;
SELECT count(*) AS entries_for_row_4 FROM tenant.audit_log WHERE key->>'id' = '4';
SELECT count(*) > 0 AS entries_kept FROM tenant.audit_log WHERE relation = 'public.au_docs';
-- The entries carry the rows' values: a role that may not SELECT the table
-- does not read them either (its tenant's entries of other tables it still
-- reads).
SET ROLE migrator;
CREATE TABLE au_salaries (tenant_id uuid NOT NULL, id int, salary int, PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('au_salaries') IS NOT NULL AS enabled, tenant_audit_enable('au_salaries') IS NOT NULL AS audited;
GRANT INSERT ON au_salaries TO job;
RESET ROLE;
BEGIN;
SET LOCAL ROLE job;
SELECT set_config('app.current_tenant', 'a0d17000-0000-4000-8000-0000000a0001', true) IS NOT NULL AS acting;
INSERT INTO au_salaries (id, salary) VALUES (1, 900000);
COMMIT;
BEGIN;
SET LOCAL ROLE app_user;
SELECT set_config('app.current_tenant', 'a0d17000-0000-4000-8000-0000000a0001', true) IS NOT NULL AS acting;
SELECT count(*) FROM au_salaries;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL ROLE app_user;
SELECT set_config('app.current_tenant', 'a0d17000-0000-4000-8000-0000000a0001', true) IS NOT NULL AS acting;
SELECT relation, count(*) AS entries FROM tenant.audit_log GROUP BY 1 ORDER BY 1;
ROLLBACK;
SELECT count(*) AS entries_an_operator_sees FROM tenant.audit_log WHERE relation = 'public.au_salaries';
SELECT tenant_audit_disable('au_salaries') IS NOT NULL AS disabled;
DROP TABLE au_salaries;
-- An entry of a table in a schema the reader may not use is left out, not
-- an error (to_regclass would raise "permission denied for schema"), for
-- the application and for an operator without USAGE on it alike.
CREATE SCHEMA au_hr;
CREATE TABLE au_hr.pay (tenant_id uuid NOT NULL, id int, amount int, PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('au_hr.pay') IS NOT NULL AS enabled, tenant_audit_enable('au_hr.pay') IS NOT NULL AS audited;
BEGIN;
SELECT set_config('app.current_tenant', 'a0d17000-0000-4000-8000-0000000a0001', true) IS NOT NULL AS acting;
INSERT INTO au_hr.pay (id, amount) VALUES (1, 100);
COMMIT;
BEGIN;
SET LOCAL ROLE app_user;
SELECT set_config('app.current_tenant', 'a0d17000-0000-4000-8000-0000000a0001', true) IS NOT NULL AS acting;
SELECT count(*) AS entries_app_user_reads FROM tenant.audit_log;
-- SELECT on the table without USAGE on its schema does not read it either.
RESET ROLE;
GRANT SELECT ON au_hr.pay TO app_user;
SET LOCAL ROLE app_user;
SELECT count(*) AS pay_entries_without_usage FROM tenant.audit_log WHERE relation = 'au_hr.pay';
SET LOCAL ROLE migrator;
SELECT count(*) AS pay_entries_the_operator_reads FROM tenant.audit_log WHERE relation = 'au_hr.pay';
ROLLBACK;
SELECT tenant_audit_disable('au_hr.pay') IS NOT NULL AS disabled;
DROP SCHEMA au_hr CASCADE;
SELECT tenant_audit_disable('au_decoy') IS NOT NULL, tenant_audit_disable('au_other') IS NOT NULL, tenant_audit_disable('au_moods') IS NOT NULL;
DROP TABLE au_docs, au_plain, au_nokey, au_parted, au_decoy, au_other, au_moods;
DROP CAST (au_mood AS json);
DROP FUNCTION au_mood_json(au_mood);
DROP TYPE au_mood;
DROP FUNCTION au_noop();
