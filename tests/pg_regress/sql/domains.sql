-- Custom domains: validation, verification, one primary per tenant, RLS.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
SELECT tenant_domain_add('acme-corp', 'App.Acme.test') AS acme_token \gset
SELECT length(:'acme_token') AS token_length, :'acme_token' ~ '^[0-9a-f]{32}$' AS hex;
SELECT domain, verified_at IS NOT NULL AS verified, is_primary FROM tenant.domains ORDER BY domain;

-- Bad input.
SELECT tenant_domain_add('acme-corp', 'https://acme.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_add('acme-corp', 'acme.test:8080');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_add('acme-corp', 'acme.test/app');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_add('acme-corp', 'acme .test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_add('acme-corp', 'localhost');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_add('acme-corp', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- unique across tenants, without telling which tenant holds it
SELECT tenant_domain_add('globex', 'app.acme.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_verify('app.acme.test', 'wrong');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_verify('unknown.test', 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_set_primary('app.acme.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Verification; the first verified domain becomes primary.
SELECT tenant_domain_verify('APP.acme.test', :'acme_token');
SELECT tenant_domain_add('acme-corp', 'www.acme.test') AS www_token \gset
SELECT tenant_domain_verify('www.acme.test', :'www_token');
SELECT domain, verified_at IS NOT NULL AS verified, is_primary FROM tenant.domains ORDER BY domain;
SELECT tenant_domain_set_primary('www.acme.test');
SELECT domain, is_primary FROM tenant.domains ORDER BY domain;
SELECT tenant_domain_remove('www.acme.test');
SELECT tenant_domain_remove('www.acme.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_add('globex', 'globex.test') AS globex_token \gset
SELECT tenant_domain_verify('globex.test', :'globex_token');
RESET ROLE;

-- The application sees its tenant's domains, never the tokens.
\c - app_user
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
BEGIN;
SELECT act_as('acme-corp');
SELECT domain, is_primary FROM tenant.domains;
SELECT verification_token FROM tenant.domains;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- without a user of the tenant, it cannot add one
SELECT tenant_domain_add('acme-corp', 'shop.acme.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- a tenant admin can
SELECT set_config('app.current_user_id', '22222222-2222-4222-8222-222222222222', true) IS NOT NULL AS bob;
SELECT length(tenant_domain_add('acme-corp', 'shop.acme.test')) AS token_length;
-- but not remove another tenant's domain
SELECT tenant_domain_remove('globex.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
\c - postgres
