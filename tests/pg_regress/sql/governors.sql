-- Governors: a plan's and a tenant's caps on each transaction of the tenant
-- (statement_timeout, lock_timeout, idle_in_transaction_session_timeout,
-- work_mem, max_transactions). Values are read with units; bad ones are
-- refused; the tenant's own value wins over its plan's; the settings hold
-- for the transaction that names the tenant, as the application role.
-- Concurrency (max_transactions) is in tests/isolation/specs/governors.spec.
\set SHOW_CONTEXT never
SET ROLE migrator;
INSERT INTO tenant.plans (id, name) VALUES ('governed', 'Governed');
SELECT tenant_plan_governor_set('governed', 'statement_timeout', '2s');
SELECT tenant_plan_governor_set('governed', 'work_mem', '2MB');
SELECT tenant_plan_governor_set('governed', 'max_transactions', '4');
SELECT tenant_plan_governor_set('governed', 'lock_timeout', '1500');
SELECT governors FROM tenant.plans WHERE id = 'governed';
SELECT tenant_create('Governed Co', 'governed-co', 'governed') IS NOT NULL AS created;
-- The tenant's own value wins; NULL goes back to the plan's.
SELECT tenant_governor_set('governed-co', 'statement_timeout', '750ms');
SELECT tenant_governor_set('governed-co', 'idle_in_transaction_session_timeout', '1min');
SELECT * FROM tenant_governors('governed-co') ORDER BY governor;
SELECT tenant_governor_set('governed-co', 'idle_in_transaction_session_timeout', NULL);

-- Bad input: each refused with what to pass instead, nothing changed.
SELECT tenant_governor_set('governed-co', 'max_connections', '5');
SELECT tenant_governor_set('governed-co', NULL, '5');
SELECT tenant_governor_set('governed-co', 'statement_timeout', '0');
SELECT tenant_governor_set('governed-co', 'statement_timeout', '-5s');
SELECT tenant_governor_set('governed-co', 'statement_timeout', 'soon');
SELECT tenant_governor_set('governed-co', 'statement_timeout', '5 parsecs');
SELECT tenant_governor_set('governed-co', 'work_mem', '8kB');
SELECT tenant_governor_set('governed-co', 'max_transactions', '1001');
SELECT tenant_governor_set('governed-co', 'max_transactions', '2.5');
SELECT tenant_governor_set('no-such-tenant', 'statement_timeout', '1s');
SELECT tenant_plan_governor_set('no-such-plan', 'statement_timeout', '1s');
SELECT tenant_plan_governor_set(NULL, 'statement_timeout', '1s');
-- Operators editing the tables with SQL meet the same rules.
UPDATE tenant.plans SET governors = '{"statement_timeout": "5s"}' WHERE id = 'governed';
UPDATE tenant.plans SET governors = '{"statement_timout": 5000}' WHERE id = 'governed';
UPDATE tenant.plans SET governors = '[5000]' WHERE id = 'governed';
UPDATE tenant.plans SET governors = '{"max_transactions": 0}' WHERE id = 'governed';
SELECT governors FROM tenant.plans WHERE id = 'governed';
SELECT governors FROM tenant.tenants WHERE slug = 'governed-co';
RESET ROLE;

-- Only operators set governors.
SET ROLE app_user;
SELECT tenant_governor_set('governed-co', 'statement_timeout', '1h');
SELECT tenant_plan_governor_set('governed', 'statement_timeout', '1h');
RESET ROLE;

-- As the application: the transaction that names the tenant gets them; a
-- transaction that does not, and the next one, do not.
SET ROLE app_user;
SELECT current_setting('statement_timeout') AS before, current_setting('work_mem') AS work_mem_before;
BEGIN;
SELECT act_as('governed-co');
SELECT current_setting('statement_timeout') AS statement_timeout,
       current_setting('lock_timeout') AS lock_timeout,
       current_setting('idle_in_transaction_session_timeout') AS idle,
       current_setting('work_mem') AS work_mem;
-- The statement timeout is in force.
SELECT pg_sleep(1);
ROLLBACK;
SELECT current_setting('statement_timeout') AS after, current_setting('work_mem') AS work_mem_after;
-- A transaction holding one of the tenant's max_transactions slots cannot
-- be prepared (0A000, before Postgres' own 55000 here): the slot would pass
-- to the prepared transaction and stay taken after the session ended.
BEGIN;
SELECT act_as('governed-co');
SELECT count(*) AS slots_held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
PREPARE TRANSACTION 'governed_slot';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Named with tenant_set, the same; a stricter session value stays.
BEGIN;
SET LOCAL statement_timeout = '100ms';
SET LOCAL work_mem = '1MB';
SELECT tenant_set('governed-co') IS NOT NULL AS set;
SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('work_mem') AS work_mem;
COMMIT;
-- Loosened by the application: tightened again by the next statement.
BEGIN;
SELECT act_as('governed-co');
SET LOCAL statement_timeout = 0;
SELECT current_setting('statement_timeout') AS statement_timeout;
COMMIT;
-- Put back in any other way, tightened again at once: no statement (a FETCH
-- from a cursor included) and no idle moment of the transaction sees the
-- looser value. SHOW shows the value before pg_tenant sees the statement.
RESET ROLE;
SET ROLE migrator;
SELECT tenant_governor_set('governed-co', 'idle_in_transaction_session_timeout', '1min') IS NOT NULL AS idle_set;
RESET ROLE;
SET ROLE app_user;
BEGIN;
SAVEPOINT s;
SELECT act_as('governed-co');
ROLLBACK TO SAVEPOINT s;
SHOW idle_in_transaction_session_timeout;
SET LOCAL idle_in_transaction_session_timeout = 0;
SHOW idle_in_transaction_session_timeout;
RESET work_mem;
SHOW work_mem;
SELECT set_config('statement_timeout', '0', true) AS loosened;
SHOW statement_timeout;
DECLARE c CURSOR FOR SELECT current_setting('statement_timeout') AS in_fetch FROM generate_series(1, 2);
SET LOCAL statement_timeout = 0;
FETCH 1 FROM c;
-- Put back where no statement ends (a PL/pgSQL assignment) and read by a later
-- FETCH of an open cursor: the FETCH runs with the cap (every run of a plan
-- tightens again first).
CREATE FUNCTION pg_temp.loosen_then_fetch() RETURNS text LANGUAGE plpgsql AS $$
DECLARE c refcursor; loosened text; seen text;
BEGIN
    OPEN c FOR SELECT current_setting('work_mem');
    loosened := set_config('work_mem', '1GB', true);
    FETCH c INTO seen;
    RETURN loosened || ' set, ' || seen || ' seen by the FETCH';
END $$;
SELECT pg_temp.loosen_then_fetch();
-- work_mem bounds hash nodes too: hash_mem_multiplier stays at PostgreSQL's default.
SET LOCAL hash_mem_multiplier = 1000;
SELECT current_setting('hash_mem_multiplier')::float8
       = (SELECT boot_val::float8 FROM pg_settings WHERE name = 'hash_mem_multiplier') AS hash_mem_at_default;
COMMIT;
SHOW idle_in_transaction_session_timeout;
SHOW work_mem;
RESET ROLE;
SET ROLE migrator;
SELECT tenant_governor_set('governed-co', 'idle_in_transaction_session_timeout', NULL) IS NOT NULL AS idle_unset;
RESET ROLE;
SET ROLE app_user;
-- Another tenant (no plan, no governors) gets nothing.
BEGIN;
SELECT act_as('globex');
SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('work_mem') AS work_mem;
COMMIT;
RESET ROLE;

-- The slot of max_transactions is visible in pg_locks while held.
SET ROLE app_user;
BEGIN;
SELECT act_as('governed-co');
SELECT count(*) AS items FROM tenant.tenants;
SELECT locktype, mode, granted, objsubid FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 20564;
COMMIT;
SELECT count(*) AS slots_after_commit FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 20564;
RESET ROLE;

-- A new session whose first use of pg_tenant is a parallel query: settings
-- cannot change during it, so it is refused rather than run without the
-- tenant's governors; the next statement has them.
SELECT id AS governed_id FROM tenant.tenants WHERE slug = 'governed-co' \gset
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT set_config(name, 'on', false) AS forced FROM pg_settings
 WHERE name IN ('force_parallel_mode', 'debug_parallel_query');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
BEGIN;
SELECT set_config('app.current_tenant', :'governed_id', true) IS NOT NULL AS named;
SELECT count(*) AS tenants FROM tenant.tenants;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS tenants FROM tenant.tenants;
SHOW statement_timeout;
COMMIT;
\c - postgres
\set SHOW_CONTEXT never

-- Cleanup.
SET ROLE migrator;
SELECT tenant_delete('governed-co') IS NOT NULL AS deleted;
RESET ROLE;
SELECT count(*) > 0 AS purged FROM tenant_purge('governed-co', force => true);
DELETE FROM tenant.plans WHERE id = 'governed';
