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

-- Cleanup.
SET ROLE migrator;
SELECT tenant_delete('governed-co') IS NOT NULL AS deleted;
RESET ROLE;
SELECT count(*) > 0 AS purged FROM tenant_purge('governed-co', force => true);
DELETE FROM tenant.plans WHERE id = 'governed';
