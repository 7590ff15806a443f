-- Settings: dotted keys, one nested document per tenant, who may change them.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
SELECT tenant_setting_set('acme-corp', 'branding.logo_url', '"https://acme.test/logo.png"');
SELECT tenant_setting_set('acme-corp', 'branding.colors.primary', '"#ff0000"');
SELECT tenant_setting_set('acme-corp', 'features', '["export", "sso"]');
SELECT tenant_setting_set('acme-corp', 'limits.max_projects', '25');
SELECT tenant_setting_set('acme-corp', 'limits.max_projects', '50');
SELECT jsonb_pretty(tenant_settings('acme-corp'));
SELECT tenant_settings('globex') AS globex_has_none;

-- Bad input.
SELECT tenant_setting_set('acme-corp', 'branding', '"plain"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('acme-corp', 'features.beta', 'true');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('acme-corp', 'Branding.Logo', '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('acme-corp', 'a..b', '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('acme-corp', NULL, '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('acme-corp', 'theme', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('no-such-tenant', 'theme', '"dark"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The application reads its current tenant's settings.
\c - app_user
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
SELECT tenant_setting_get('branding.logo_url') AS without_a_tenant;
BEGIN;
SELECT act_as('acme-corp');
SELECT tenant_setting_get('branding.logo_url') AS logo,
       tenant_setting_get('limits.max_projects') AS max_projects,
       tenant_setting_get('branding') AS branding,
       tenant_setting_get('nothing.here') AS missing;
SELECT tenant_setting_get('Bad Key');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows_visible FROM tenant.settings;
-- another tenant's settings are not visible
SELECT tenant_settings('globex') AS globex_from_acme;
-- changing them takes a tenant admin
SELECT tenant_setting_set('acme-corp', 'theme', '"dark"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_config('app.current_user_id', '22222222-2222-4222-8222-222222222222', true) IS NOT NULL AS bob;
SELECT tenant_setting_set('acme-corp', 'theme', '"dark"');
SELECT tenant_setting_get('theme') AS theme;
SELECT tenant_setting_set('globex', 'theme', '"light"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- unset removes a key or a whole subtree
SELECT tenant_setting_unset('acme-corp', 'branding') AS removed;
SELECT tenant_setting_unset('acme-corp', 'branding') AS removed_again;
SELECT tenant_settings('acme-corp');
COMMIT;
\c - postgres

-- Another tenant's settings cannot be probed: to an application acting for
-- acme-corp as its admin (bob), every other reference gets one refusal (or,
-- to read, the empty document), whether that tenant exists, is suspended or
-- deleted.
BEGIN;
SELECT tenant_setting_set('globex', 'theme', '"light"');
SELECT tenant_create('Gone Co', 'gone-co') IS NOT NULL AS gone,
       tenant_create('Paused Co', 'paused-co') IS NOT NULL AS paused;
SELECT tenant_delete('gone-co'), tenant_suspend('paused-co');
SET ROLE app_user;
SELECT act_as('acme-corp');
SELECT set_config('app.current_user_id', '22222222-2222-4222-8222-222222222222', true) IS NOT NULL AS bob;
SELECT tenant_setting_set('bbbbbbbb-0000-4000-8000-000000000002', 'theme', '"dark"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('no-such-tenant', 'theme', '"dark"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('gone-co', 'theme', '"dark"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('paused-co', 'theme', '"dark"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_unset('globex', 'theme');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_unset('no-such-tenant', 'theme');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT t AS tenant, tenant_settings(t) AS settings
  FROM unnest(ARRAY['globex', 'bbbbbbbb-0000-4000-8000-000000000002', 'no-such-tenant', 'gone-co', 'paused-co']) AS t;
-- usage figures follow the same rule
SELECT tenant_storage_used('globex');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_storage_used('no-such-tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_check_api_quota('gone-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_check_api_quota('no-such-tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_storage_used('ACME-CORP') >= 0 AS own_storage,
       tenant_check_api_quota('aaaaaaaa-0000-4000-8000-000000000001') AS own_api_quota;
-- its own tenant it manages, named by id or by slug in any case
SELECT tenant_setting_set('aaaaaaaa-0000-4000-8000-000000000001', 'theme', '"light"');
SELECT tenant_setting_get('theme') AS theme;
SELECT tenant_setting_unset('ACME-CORP', 'theme') AS removed;
RESET ROLE;
ROLLBACK;

-- A long bad key is not copied whole into the error.
SELECT tenant_setting_get(repeat('K', 100000));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_setting_set('acme-corp', repeat('K', 100000), '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
