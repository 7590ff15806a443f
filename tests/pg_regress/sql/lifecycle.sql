-- Lifecycle: create, suspend, activate, delete, purge, purge_expired, stats.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
-- An owner given at creation becomes the first member.
SELECT tenant_create('Owned Co', owner => '66666666-6666-4666-8666-666666666666') IS NOT NULL AS created;
SELECT user_id, role FROM tenant_members('owned-co');
SELECT tenant_create('   ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_create(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A tenant with data in two tenant-scoped tables that reference each other.
SELECT tenant_create('Lifecycle Co', 'lifecycle-co') IS NOT NULL AS created;
UPDATE tenant.tenants SET id = 'dddddddd-0000-4000-8000-000000000004' WHERE slug = 'lifecycle-co';
SET ROLE migrator;
CREATE TABLE lc_clients (id int PRIMARY KEY, tenant_id uuid NOT NULL, name text);
CREATE TABLE lc_orders (id int PRIMARY KEY, tenant_id uuid NOT NULL, client_id int REFERENCES lc_clients (id));
SELECT tenant_enable('lc_clients') IS NOT NULL AS enabled, tenant_enable('lc_orders') IS NOT NULL AS enabled;
BEGIN;
SELECT tenant_set('lifecycle-co') IS NOT NULL AS set;
INSERT INTO lc_clients (id, name) VALUES (1, 'a'), (2, 'b');
INSERT INTO lc_orders (id, client_id) VALUES (1, 1), (2, 1), (3, 2);
COMMIT;
BEGIN;
SELECT tenant_set('acme-corp') IS NOT NULL AS set;
INSERT INTO lc_clients (id, name) VALUES (10, 'acme client');
INSERT INTO lc_orders (id, client_id) VALUES (10, 10);
COMMIT;

-- suspend (twice is a no-op), activate
SELECT tenant_suspend('lifecycle-co');
SELECT tenant_suspend('dddddddd-0000-4000-8000-000000000004');
SELECT status, suspended_at IS NOT NULL AS suspended_at_set, updated_at >= created_at AS updated FROM tenant.tenants WHERE slug = 'lifecycle-co';
BEGIN;
SELECT tenant_set('lifecycle-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT tenant_activate('lifecycle-co');
SELECT status, suspended_at IS NULL AS suspended_at_cleared FROM tenant.tenants WHERE slug = 'lifecycle-co';

-- delete is soft: data kept, sessions refused, no way back
SELECT tenant_delete('lifecycle-co');
SELECT tenant_delete('lifecycle-co');
SELECT status, deleted_at IS NOT NULL AS deleted_at_set FROM tenant.tenants WHERE slug = 'lifecycle-co';
SELECT tenant_activate('lifecycle-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_suspend('lifecycle-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS lifecycle_rows_kept FROM lc_orders WHERE tenant_id = 'dddddddd-0000-4000-8000-000000000004';
SET ROLE migrator;

-- purge: only deleted tenants unless forced; children before parents
SELECT * FROM tenant_purge('acme-corp');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant_purge('lifecycle-co') WHERE rows_deleted > 0;
SELECT count(*) AS lifecycle_tenant_left FROM tenant.tenants WHERE slug = 'lifecycle-co';
RESET ROLE;
SELECT t.slug, count(*) AS orders_left FROM lc_orders o JOIN tenant.tenants t ON t.id = o.tenant_id GROUP BY t.slug;
SET ROLE migrator;
-- force purges a live tenant (members go with it)
SELECT relation, rows_deleted FROM tenant_purge('owned-co', force => true);
SELECT count(*) AS owned_co_members_left FROM tenant.members WHERE user_id = '66666666-6666-4666-8666-666666666666';

-- purge_expired honours the retention
SELECT tenant_create('Old Co', 'old-co') IS NOT NULL AS created, tenant_create('Recent Co', 'recent-co') IS NOT NULL AS created;
SELECT tenant_delete('old-co'), tenant_delete('recent-co');
RESET ROLE;
UPDATE tenant.tenants SET deleted_at = now() - interval '45 days' WHERE slug = 'old-co';
SET ROLE migrator;
SELECT tenant_purge_expired() AS purged;
SELECT slug, status FROM tenant.tenants WHERE slug IN ('old-co', 'recent-co');
SELECT tenant_purge_expired(interval '0') AS purged_with_no_retention;
SELECT tenant_purge_expired(interval '-1 day');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_purge_expired(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- unknown and NULL references
SELECT tenant_suspend('no-such-tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_delete(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- operators' views
SELECT * FROM tenant_stats() WHERE dimension <> 'plan' OR value <> '(none)';
SELECT slug, status, members, owners, domains, primary_domain, settings FROM tenant.overview
 WHERE slug IN ('acme-corp', 'globex', 'initech') ORDER BY slug;
RESET ROLE;

-- Applications cannot run lifecycle functions or read the operators' view.
\c - app_user
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
SELECT tenant_suspend('acme-corp');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant_stats();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant.overview;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c - postgres
