-- Quotas: plans, overrides, members, rows per table, storage, API requests,
-- the quota_status view and reconciliation. Writes are made by app_user, the
-- ordinary application role; limits are set by migrator (tenant_admin).
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY default

-- The default plans; everyone may read them, only operators edit them.
SELECT id, name, max_members, max_storage_bytes, max_api_requests_per_month FROM tenant.plans ORDER BY id;
SET ROLE app_user;
SELECT count(*) AS plans_visible_to_app FROM tenant.plans;
UPDATE tenant.plans SET max_members = 1000 WHERE id = 'free';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_plan_limit_set('free', 'members', 1000);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

SET ROLE migrator;
INSERT INTO tenant.plans (id, name, max_members, max_storage_bytes, max_api_requests_per_month)
VALUES ('team', 'Team', 2, NULL, 5);
INSERT INTO tenant.plans (id, name, max_members) VALUES ('bad', 'Bad', -1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_create('Quota Co', 'quota-co', 'team') IS NOT NULL AS created,
       tenant_create('Other Co', 'other-co', 'team') IS NOT NULL AS created;
RESET ROLE;
-- Fixed ids, so that messages naming the tenant are stable.
UPDATE tenant.tenants SET id = CASE slug
    WHEN 'quota-co' THEN 'eeeeeeee-0000-4000-8000-000000000005'::uuid
    ELSE 'ffffffff-0000-4000-8000-000000000006'::uuid END
 WHERE slug IN ('quota-co', 'other-co');
SET ROLE migrator;
SELECT tenant_create('Nope Co', 'nope-co', 'platinum');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_plan_set('quota-co', 'platinum');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

CREATE TABLE qnotes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL, body text);
GRANT SELECT, INSERT, UPDATE, DELETE ON qnotes TO app_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON qnotes TO job;
SELECT tenant_enable('qnotes') IS NOT NULL AS enabled;

-- Bad inputs leave nothing behind.
SELECT tenant_quota_set('quota-co', 'qnotes', -1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_quota_set('quota-co', 'no_such_table', 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_quota_set('quota-co', 'pg_class', 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_quota_set('quota-co', NULL, 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_quota_set('no-such-tenant', 'qnotes', 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_limit_set('quota-co', 'rows', 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_limit_set('quota-co', 'seats', 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_limit_set('quota-co', 'members', -5);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_plan_limit_set('platinum', 'members', 5);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_plan_quota_set('team', 'qnotes', -2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS row_limits FROM tenant.row_limits;
SELECT max_members FROM tenant.tenants WHERE slug = 'quota-co';

-- Rows: the plan allows 3 qnotes, quota-co's own limit is 2 (it wins).
SELECT tenant_plan_quota_set('team', 'qnotes', 3);
SELECT tenant_quota_set('quota-co', 'qnotes', 2);
RESET ROLE;

SET ROLE app_user;
BEGIN;
SELECT tenant_set('quota-co') IS NOT NULL AS set;
INSERT INTO qnotes (body) VALUES ('one');               -- below the limit
INSERT INTO qnotes (body) VALUES ('two');               -- at the limit
INSERT INTO qnotes (body) VALUES ('three');             -- past it
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS qnotes FROM qnotes;
COMMIT;
-- A rolled-back insert frees its count; a multi-row insert past the limit keeps nothing.
BEGIN;
SELECT tenant_set('other-co') IS NOT NULL AS set;
INSERT INTO qnotes (body) VALUES ('o1'), ('o2');
ROLLBACK;
BEGIN;
SELECT tenant_set('other-co') IS NOT NULL AS set;
INSERT INTO qnotes (body) SELECT 'bulk ' || g FROM generate_series(1, 4) g;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO qnotes (body) SELECT 'bulk ' || g FROM generate_series(1, 3) g;  -- the plan's 3
SELECT count(*) AS qnotes FROM qnotes;
COMMIT;
-- Deleting makes room again.
BEGIN;
SELECT tenant_set('quota-co') IS NOT NULL AS set;
DELETE FROM qnotes WHERE body = 'one';
INSERT INTO qnotes (body) VALUES ('three');
SELECT body FROM qnotes ORDER BY body;
COMMIT;
RESET ROLE;

-- A row that changes tenant counts for its new tenant, and is refused when
-- that tenant is full (only a bypassing job may move rows between tenants).
SELECT id AS other_co FROM tenant.tenants WHERE slug = 'other-co' \gset
SELECT id AS quota_co FROM tenant.tenants WHERE slug = 'quota-co' \gset
SET ROLE job;
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) IS NOT NULL AS bypass;
SELECT set_config('app.bypass_reason', 'regression test', true) IS NOT NULL AS reason_given;
UPDATE qnotes SET tenant_id = :'other_co' WHERE body = 'two';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;
-- Back to the plan's limit (3): quota-co may take the row now, and is then full.
SET ROLE migrator;
SELECT tenant_quota_set('quota-co', 'qnotes', NULL);
RESET ROLE;
SET ROLE job;
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) IS NOT NULL AS bypass;
SELECT set_config('app.bypass_reason', 'regression test', true) IS NOT NULL AS reason_given;
UPDATE qnotes SET tenant_id = :'quota_co' WHERE body = 'bulk 1';
COMMIT;
RESET ROLE;
SELECT t.slug, u.row_count FROM tenant.usage_by_table u JOIN tenant.tenants t ON t.id = u.tenant_id
 WHERE u.relid = 'qnotes'::regclass ORDER BY t.slug;
SET ROLE app_user;
BEGIN;
SELECT tenant_set('quota-co') IS NOT NULL AS set;
INSERT INTO qnotes (body) VALUES ('four');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
RESET ROLE;

-- Members: plan team allows 2.
SET ROLE migrator;
SELECT tenant_member_add('quota-co', '11111111-1111-4111-8111-111111111111', 'owner');
SELECT tenant_member_add('quota-co', '22222222-2222-4222-8222-222222222222');
SELECT tenant_member_add('quota-co', '33333333-3333-4333-8333-333333333333');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS members FROM tenant_members('quota-co');
SELECT tenant_member_remove('quota-co', '22222222-2222-4222-8222-222222222222');
SELECT tenant_member_add('quota-co', '33333333-3333-4333-8333-333333333333');
SELECT tenant_limit_set('quota-co', 'members', 3);
SELECT tenant_member_add('quota-co', '44444444-4444-4444-8444-444444444444');
SELECT members FROM tenant.usage_totals WHERE tenant_id = (SELECT id FROM tenant.tenants WHERE slug = 'quota-co');
RESET ROLE;

-- Storage: bytes per tenant, maintained by the triggers; each tenant its own figure.
SET ROLE migrator;
SELECT slug, tenant_storage_used(slug) AS bytes FROM tenant.tenants WHERE slug IN ('quota-co', 'other-co') ORDER BY slug;
SELECT tenant_limit_set('other-co', 'storage_bytes', 400);
SELECT tenant_quota_set('other-co', 'qnotes', 10);
RESET ROLE;
SET ROLE app_user;
BEGIN;
SELECT tenant_set('other-co') IS NOT NULL AS set;
SELECT tenant_storage_used('other-co') AS bytes_before;
INSERT INTO qnotes (body) VALUES (repeat('x', 300));    -- past 400 bytes
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO qnotes (body) VALUES (repeat('x', 100));    -- fits
UPDATE qnotes SET body = repeat('y', 300) WHERE body = repeat('x', 100);  -- growing past it
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE qnotes SET body = 'short' WHERE body = repeat('x', 100);           -- shrinking is fine
SELECT tenant_storage_used('other-co') AS bytes_after;
-- Another tenant's figures are not the application's business.
SELECT tenant_storage_used('quota-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
RESET ROLE;

-- API requests per month: plan team allows 5.
SET ROLE app_user;
SELECT tenant_record_api_request();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
BEGIN;
SELECT tenant_set('quota-co') IS NOT NULL AS set;
SELECT tenant_record_api_request(3) AS count;
SELECT tenant_record_api_request(2) AS count;           -- at the limit
SELECT tenant_check_api_quota('quota-co') AS another_fits;
SELECT tenant_record_api_request();                     -- past it: refused, not counted
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_record_api_request(0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_record_api_request(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT api_requests FROM tenant.usage;
COMMIT;
RESET ROLE;

-- quota_status: the application sees its own tenant; operators see all.
SET ROLE app_user;
BEGIN;
SELECT tenant_set('quota-co') IS NOT NULL AS set;
SELECT slug, plan, quota, table_name, used, max_allowed, ratio FROM tenant.quota_status
 WHERE table_name IS NULL OR table_name = 'qnotes'::regclass ORDER BY quota, table_name;
COMMIT;
SELECT count(*) AS rows_without_tenant FROM tenant.quota_status;
RESET ROLE;
SET ROLE migrator;
SELECT slug, quota, table_name, used, max_allowed, ratio FROM tenant.quota_status
 WHERE slug IN ('quota-co', 'other-co') AND (ratio >= 0.9 OR table_name = 'qnotes'::regclass) ORDER BY slug, quota, table_name;

-- Reconciliation: nothing to correct; then repair counters that drifted.
SELECT * FROM tenant_usage_reconcile();
RESET ROLE;
UPDATE tenant.usage_by_table SET row_count = 42, bytes = 1 WHERE tenant_id = (SELECT id FROM tenant.tenants WHERE slug = 'other-co');
UPDATE tenant.usage_totals SET members = 7 WHERE tenant_id = (SELECT id FROM tenant.tenants WHERE slug = 'quota-co');
SET ROLE migrator;
SELECT slug, counter, table_name, recorded, actual FROM tenant_usage_reconcile() ORDER BY slug, counter;
SELECT slug, counter FROM tenant_usage_reconcile('other-co');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM tenant_usage_reconcile('other-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- TRUNCATE empties the table's counters.
TRUNCATE qnotes;
SELECT count(*) AS counters_left FROM tenant.usage_by_table WHERE relid = 'qnotes'::regclass;
SELECT slug, tenant_storage_used(slug) FROM tenant.tenants WHERE slug IN ('quota-co', 'other-co') ORDER BY slug;

-- A table that does not count usage takes no row quota; turning counting
-- back on counts its existing rows.
SELECT tenant_enable('qnotes', track_usage => false);
SELECT tenant_quota_set('quota-co', 'qnotes', 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE app_user;
BEGIN;
SELECT tenant_set('other-co') IS NOT NULL AS set;
INSERT INTO qnotes (body) SELECT 'untracked ' || g FROM generate_series(1, 12) g;
COMMIT;
RESET ROLE;
SET ROLE migrator;
SELECT tenant_enable('qnotes') LIKE '%_tenant_usage_start%' AS recounted;
SELECT t.slug, u.row_count FROM tenant.usage_by_table u JOIN tenant.tenants t ON t.id = u.tenant_id
 WHERE u.relid = 'qnotes'::regclass ORDER BY t.slug;

-- Partitioned tables and COPY are counted too (statement triggers on the
-- parent see rows of every partition, also when an UPDATE moves one).
CREATE TABLE qevents (id int, tenant_id uuid NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE qevents_2026 PARTITION OF qevents FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE qevents_2027 PARTITION OF qevents FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT tenant_enable('qevents') IS NOT NULL AS enabled;
GRANT SELECT, INSERT, UPDATE ON qevents TO app_user;
RESET ROLE;
SET ROLE app_user;
BEGIN;
SELECT tenant_set('quota-co') IS NOT NULL AS set;
INSERT INTO qevents (id, at) VALUES (1, '2026-05-01'), (2, '2027-05-01');
UPDATE qevents SET at = '2027-07-01' WHERE id = 1;
-- Postgres refuses COPY FROM where RLS applies; a bulk load runs as a role
-- that bypasses RLS, and is counted all the same.
COPY qevents (id, at) FROM stdin;
\.
COMMIT;
RESET ROLE;
COPY qevents (id, tenant_id, at) FROM stdin;
3	eeeeeeee-0000-4000-8000-000000000005	2026-06-01
4	eeeeeeee-0000-4000-8000-000000000005	2027-06-01
\.
SELECT row_count, bytes FROM tenant.usage_by_table WHERE relid = 'qevents'::regclass;
SELECT count(*) AS drift FROM tenant_usage_reconcile('quota-co');
SET ROLE migrator;

-- Purging a tenant removes its counters with it.
SELECT relation, rows_deleted FROM tenant_purge('other-co', force => true);
SELECT count(*) AS other_co_counters FROM tenant.usage_by_table u
 WHERE NOT EXISTS (SELECT FROM tenant.tenants t WHERE t.id = u.tenant_id);
SELECT relation, rows_deleted FROM tenant_purge('quota-co', force => true);
SELECT tenant_disable('qnotes') IS NOT NULL AS disabled, tenant_disable('qevents') IS NOT NULL AS disabled;
DROP TABLE qnotes, qevents;
DELETE FROM tenant.plans WHERE id = 'team';
RESET ROLE;

-- The session's caches survive an ordinary rollback (a refused quota rolls
-- back), but not one that undid a registry change it had cached.
SELECT tenant_create('Cache Co', 'cache-co') IS NOT NULL AS created;
\set cache_co '99999999-0000-4000-8000-000000000009'
UPDATE tenant.tenants SET id = :'cache_co' WHERE slug = 'cache-co';
SELECT tenant_suspend('cache-co');
BEGIN;
SELECT tenant_activate('cache-co');
SELECT set_config('app.current_tenant', :'cache_co', true) IS NOT NULL AS set;
SELECT current_tenant_id() = :'cache_co' AS active_inside;
ROLLBACK;
BEGIN;
SELECT set_config('app.current_tenant', :'cache_co', true) IS NOT NULL AS set;
SELECT current_tenant_id() IS NOT NULL AS active_after_rollback;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) > 0 AS purged FROM tenant_purge('cache-co', force => true);
