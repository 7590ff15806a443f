-- Resolution: explicit id, then slug, then verified custom domain, then
-- <slug>.<base_domain>; active tenants only; tenant_set for the transaction.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
SELECT tenant_domain_add('initech', 'initech.example') AS unverified_token \gset
RESET ROLE;

\c - app_user
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
SELECT tenant_resolve(id => 'aaaaaaaa-0000-4000-8000-000000000001') AS by_id;
SELECT tenant_resolve(slug => 'globex') AS by_slug;
SELECT tenant_resolve(slug => 'GLOBEX') AS by_slug_any_case;
SELECT tenant_resolve(host => 'App.Acme.test:443') AS by_verified_domain;
SELECT tenant_resolve(host => 'initech.saas.test', base_domain => 'saas.test') AS by_subdomain;
-- priority: id before slug before domain before subdomain
SELECT tenant_resolve('aaaaaaaa-0000-4000-8000-000000000001', 'globex', 'globex.test', 'saas.test') AS id_wins;
SELECT tenant_resolve(NULL, 'globex', 'app.acme.test') AS slug_wins;
SELECT tenant_resolve(host => 'globex.test', base_domain => 'test') AS domain_wins;
-- nothing matches: NULL, never an error for request input
SELECT tenant_resolve() AS nothing,
       tenant_resolve(id => 'not-a-uuid') AS bad_id,
       tenant_resolve(slug => 'no-such-tenant') AS unknown_slug,
       tenant_resolve(host => 'https://app.acme.test/x') AS url_not_host,
       tenant_resolve(host => 'initech.example') AS unverified_domain,
       tenant_resolve(host => 'a.b.saas.test', base_domain => 'saas.test') AS nested_subdomain;
-- the application resolved without reading the registry
SELECT count(*) AS registry_rows_visible FROM tenant.tenants;

-- tenant_set: for the current transaction only.
BEGIN;
SELECT tenant_set('globex') AS set_to;
SELECT current_tenant_id() AS current, (SELECT slug FROM tenant.tenants) AS visible_slug;
COMMIT;
SELECT current_tenant_id() IS NULL AS gone_after_commit;
SELECT tenant_set('no-such-tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_set(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Suspended tenants do not resolve and cannot be set.
\c - postgres
SELECT tenant_suspend('globex');
\c - app_user
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
SELECT tenant_resolve(slug => 'globex') AS suspended_by_slug, tenant_resolve(host => 'globex.test') AS suspended_by_domain;
BEGIN;
SELECT tenant_set('globex');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
\c - postgres
SELECT tenant_activate('globex');

-- A custom domain under the platform's base domain is not used for hosts under
-- it: a tenant that registered and verified "initech.saas.test" (the token it
-- verifies with is the one it was given) does not take initech's requests.
SELECT tenant_domain_verify('initech.saas.test', tenant_domain_add('acme-corp', 'initech.saas.test')) AS verified_by_acme;
SELECT tenant_resolve(host => 'initech.saas.test', base_domain => 'saas.test') = (SELECT id FROM tenant.tenants WHERE slug = 'initech') AS still_initech,
       tenant_resolve(host => 'initech.saas.test') = (SELECT id FROM tenant.tenants WHERE slug = 'acme-corp') AS custom_without_a_base;
SELECT tenant_domain_remove('initech.saas.test');
