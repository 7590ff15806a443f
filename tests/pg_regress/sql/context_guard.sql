-- The tenant context must be named for the current transaction only. A value
-- that outlives its transaction (SET without LOCAL, set_config(..., false),
-- ALTER ROLE/DATABASE ... SET, a startup option) is what leaks behind a
-- transaction pooler: the next client of the connection inherits it. It is
-- refused wherever it is read, with SQLSTATE 25000.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
CREATE TABLE guard_items (id serial, tenant_id uuid NOT NULL, note text);
SELECT tenant_enable('guard_items') IS NOT NULL AS enabled;
GRANT SELECT, INSERT ON guard_items TO app_user, job;
GRANT USAGE ON SEQUENCE guard_items_id_seq TO app_user;
INSERT INTO guard_items (tenant_id, note) VALUES
    ('aaaaaaaa-0000-4000-8000-000000000001', 'acme'),
    ('bbbbbbbb-0000-4000-8000-000000000002', 'globex');
SET ROLE app_user;

-- Named for the transaction: set_config(..., true) and SET LOCAL.
BEGIN;
SELECT set_config('app.current_tenant', 'aaaaaaaa-0000-4000-8000-000000000001', true) IS NOT NULL AS set;
SELECT current_tenant_id(), (SELECT string_agg(note, ',') FROM guard_items) AS notes;
COMMIT;
BEGIN;
SET LOCAL app.current_tenant = 'bbbbbbbb-0000-4000-8000-000000000002';
SELECT current_tenant_id(), (SELECT string_agg(note, ',') FROM guard_items) AS notes;
COMMIT;
SELECT current_tenant_id() IS NULL AS gone_after_commit;

-- SET without LOCAL: refused by current_tenant_id(), the policy and the fill
-- trigger, in this transaction and every later one. The message does not
-- repeat the value: behind a pooler it is another client's tenant.
SET app.current_tenant = 'aaaaaaaa-0000-4000-8000-000000000001';
SELECT current_tenant_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM guard_items;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO guard_items (note) VALUES ('leaked');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A transaction that names its own tenant over it acts for that tenant ...
BEGIN;
SELECT set_config('app.current_tenant', 'bbbbbbbb-0000-4000-8000-000000000002', true) IS NOT NULL AS set;
SELECT current_tenant_id(), (SELECT string_agg(note, ',') FROM guard_items) AS notes;
COMMIT;
-- ... and the session value is refused again once it ended.
SELECT count(*) FROM guard_items;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET app.current_tenant;
SELECT current_tenant_id() IS NULL AS reset_clears_it, count(*) AS rows_without_tenant FROM guard_items;

-- set_config(..., false) is the same mistake; SET inside a transaction too,
-- and a rolled-back SET is undone.
SELECT set_config('app.current_tenant', 'aaaaaaaa-0000-4000-8000-000000000001', false) IS NOT NULL AS set;
SELECT current_tenant_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET app.current_tenant;
BEGIN;
SET app.current_tenant = 'aaaaaaaa-0000-4000-8000-000000000001';
SELECT current_tenant_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT current_tenant_id() IS NULL AS rolled_back;

-- Savepoints: a local value rolled back to a savepoint is gone; one released
-- stays local to the transaction.
BEGIN;
SAVEPOINT s1;
SELECT set_config('app.current_tenant', 'aaaaaaaa-0000-4000-8000-000000000001', true) IS NOT NULL AS set;
ROLLBACK TO SAVEPOINT s1;
SELECT current_tenant_id() IS NULL AS undone;
SAVEPOINT s2;
SELECT set_config('app.current_tenant', 'aaaaaaaa-0000-4000-8000-000000000001', true) IS NOT NULL AS set;
RELEASE SAVEPOINT s2;
SELECT current_tenant_id();
COMMIT;
SELECT current_tenant_id() IS NULL AS gone_after_commit;

-- A function's own SET clause lasts only for the call.
RESET ROLE;
CREATE FUNCTION guard_as_globex() RETURNS uuid LANGUAGE sql
    SET app.current_tenant = 'bbbbbbbb-0000-4000-8000-000000000002'
    AS 'SELECT current_tenant_id()';
GRANT EXECUTE ON FUNCTION guard_as_globex() TO app_user;
SET ROLE app_user;
SELECT guard_as_globex(), current_tenant_id() IS NULL AS nothing_after_the_call;

-- The acting user and the bypass request follow the same rule.
SET app.current_user_id = '11111111-1111-4111-8111-111111111111';
SELECT current_tenant_user_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET app.current_user_id;
RESET ROLE;
SET ROLE job;
SET app.bypass_rls = on;
SELECT count(*) FROM guard_items;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL app.bypass_rls = on;
SET LOCAL app.bypass_reason = 'regression test';
SELECT count(*) AS every_tenant FROM guard_items;
COMMIT;
RESET app.bypass_rls;
-- A long-lived value that is not a boolean is refused as long-lived, without
-- repeating it (it may be another client's).
SET app.bypass_rls = 'previous-client-secret';
SELECT count(*) FROM guard_items;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET app.bypass_rls;
RESET ROLE;

-- DISCARD ALL (what a pooler's reset query runs) clears a session value.
SET ROLE app_user;
SET app.current_tenant = 'aaaaaaaa-0000-4000-8000-000000000001';
RESET ROLE;
DISCARD ALL;
SET ROLE app_user;
SELECT current_tenant_id() IS NULL AS discarded;
RESET ROLE;

-- ALTER ROLE ... SET and a startup option give every session of that role a
-- tenant: refused, naming where it came from.
ALTER ROLE app_user SET app.current_tenant = 'aaaaaaaa-0000-4000-8000-000000000001';
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT count(*) FROM guard_items;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- RESET goes back to the role's value, which is still not the transaction's own;
-- so does SET LOCAL ... TO DEFAULT, though it is set for the transaction.
BEGIN;
RESET app.current_tenant;
SELECT current_tenant_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL app.current_tenant TO DEFAULT;
SELECT count(*) FROM guard_items;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- A tenant named for the transaction over the role's value is the transaction's.
BEGIN;
SELECT set_config('app.current_tenant', 'bbbbbbbb-0000-4000-8000-000000000002', true) IS NOT NULL AS set;
SELECT current_tenant_id(), (SELECT string_agg(note, ',') FROM guard_items) AS notes;
COMMIT;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
ALTER ROLE app_user RESET app.current_tenant;
-- A long-lived request for no bypass asks for nothing, and is not refused.
ALTER ROLE job SET app.bypass_rls = off;
\c - job
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT count(*) AS without_bypass FROM guard_items;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
ALTER ROLE job RESET app.bypass_rls;
\set conn 'dbname=' :DBNAME ' user=app_user options=''-c app.current_tenant=aaaaaaaa-0000-4000-8000-000000000001'''
\c :conn
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT current_setting('app.current_tenant') AS from_startup_option;
SELECT count(*) FROM guard_items;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on

-- A value set before pg_tenant's library is loaded in the session: a
-- session-level one is refused, a transaction-local one is the transaction's.
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT current_setting('app.current_tenant', true) IS NULL AS library_not_loaded_yet;
SET app.current_tenant = 'aaaaaaaa-0000-4000-8000-000000000001';
SELECT count(*) FROM guard_items;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT set_config('app.current_tenant', 'bbbbbbbb-0000-4000-8000-000000000002', true) IS NOT NULL AS set_before_load;
SELECT current_tenant_id(), (SELECT string_agg(note, ',') FROM guard_items) AS notes;
COMMIT;

-- pg_tenant.context_scope = 'session' is a superuser's decision: an
-- application role can set it neither directly nor as a placeholder before
-- the library loads (Postgres discards the placeholder with a warning).
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET pg_tenant.context_scope = 'session';
SET app.current_tenant = 'aaaaaaaa-0000-4000-8000-000000000001';
SELECT count(*) FROM guard_items;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SHOW pg_tenant.context_scope;
SET pg_tenant.context_scope = 'session';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET pg_tenant.context_scpoe = 'session';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Set for the role by a superuser, session values are accepted.
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
ALTER ROLE app_user SET pg_tenant.context_scope = 'session';
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET app.current_tenant = 'aaaaaaaa-0000-4000-8000-000000000001';
SELECT current_tenant_id(), (SELECT string_agg(note, ',') FROM guard_items) AS notes;
SELECT setting, context FROM pg_settings WHERE name = 'pg_tenant.context_scope';
\c - postgres
\set SHOW_CONTEXT never
ALTER ROLE app_user RESET pg_tenant.context_scope;
DROP FUNCTION guard_as_globex();
SELECT tenant_disable('guard_items') IS NOT NULL AS disabled;
DROP TABLE guard_items;
