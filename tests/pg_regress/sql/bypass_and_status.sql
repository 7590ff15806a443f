-- Cross-tenant access (bypass) and tenant status, as ordinary LOGIN roles.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on

SELECT id AS initech_id FROM tenant.tenants WHERE slug = 'initech' \gset

-- Asking is not enough: app_user sets app.bypass_rls but is not in tenant_bypass.
\c - app_user
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true);
SELECT count(*) AS rows_seen_by_app_user_asking_for_bypass FROM projects;
SELECT act_as('acme-corp');
SELECT count(*) AS still_only_acme FROM projects;
COMMIT;

-- job is a member of tenant_bypass: it sees everything once it asks, and only then.
\c - job
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
SELECT count(*) AS job_rows_without_asking FROM projects;
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true);
SELECT set_config('app.bypass_reason', 'regression test', true) IS NOT NULL AS reason_given;
SELECT count(*) AS job_rows_with_bypass FROM projects;
-- and may write into any tenant, naming it
INSERT INTO projects (tenant_id, name) VALUES (:'initech_id', 'written by job');
UPDATE projects SET name = name || ' (audited)' WHERE name = 'Doomsday device';
SELECT t.slug, p.name FROM projects p JOIN (VALUES
    ('aaaaaaaa-0000-4000-8000-000000000001'::uuid, 'acme-corp'),
    ('bbbbbbbb-0000-4000-8000-000000000002'::uuid, 'globex'),
    ('cccccccc-0000-4000-8000-000000000003'::uuid, 'initech')) AS t (id, slug) ON t.id = p.tenant_id
 WHERE p.name LIKE '%job%' OR p.name LIKE '%audited%' ORDER BY 1;
ROLLBACK;
-- A value that is not a boolean is an error, not "off".
BEGIN;
SELECT set_config('app.bypass_rls', 'maybe', true);
SELECT count(*) FROM projects;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Suspended and deleted tenants: 42501 naming the tenant and its status, never rows.
\c - postgres
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
UPDATE tenant.tenants SET status = 'suspended', suspended_at = now() WHERE slug = 'globex';
UPDATE tenant.tenants SET status = 'deleted', deleted_at = now() WHERE slug = 'initech';
\c - app_user
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
BEGIN;
SELECT act_as('globex');
SELECT regexp_replace(current_setting('app.current_tenant'), '.', 'x', 'g') AS uuid_is_set;
SELECT count(*) FROM projects;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO projects (name) VALUES ('while suspended');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM tenant.tenants;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT act_as('initech');
SELECT count(*) FROM projects;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Reactivated, the tenant's data is back.
\c - postgres
UPDATE tenant.tenants SET status = 'active', suspended_at = NULL, deleted_at = NULL WHERE slug IN ('globex', 'initech');
\c - app_user
BEGIN;
SELECT act_as('globex');
SELECT name FROM projects;
COMMIT;
\c - postgres
