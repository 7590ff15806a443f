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
