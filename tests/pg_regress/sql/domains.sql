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

-- Another tenant's domains cannot be probed, verified, removed or made
-- primary, and their owner is never named: to an application acting for
-- acme-corp as its admin (bob), a domain of another tenant, verified or not,
-- is as unknown as one registered nowhere.
BEGIN;
SELECT tenant_domain_add('globex', 'pending.globex.test') IS NOT NULL AS unverified_globex_domain;
SELECT tenant_create('Gone Co', 'gone-co') IS NOT NULL AS gone;
SELECT tenant_domain_add('gone-co', 'gone.test') IS NOT NULL AS gone_domain;
SELECT tenant_delete('gone-co');
SET ROLE app_user;
SELECT act_as('acme-corp');
SELECT set_config('app.current_user_id', '22222222-2222-4222-8222-222222222222', true) IS NOT NULL AS bob;
SELECT tenant_domain_verify('globex.test', 'x');              -- another tenant's, verified
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_verify('pending.globex.test', 'x');      -- another tenant's, unverified
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_verify('gone.test', 'x');                -- a deleted tenant's
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_verify('nowhere.test', 'x');             -- registered nowhere
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_remove('pending.globex.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_remove('nowhere.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_set_primary('globex.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_set_primary('pending.globex.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_set_primary('nowhere.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- nor add one to another tenant, whatever that tenant is
SELECT tenant_domain_add('globex', 'mine.acme.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_add('no-such-tenant', 'mine.acme.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_add('gone-co', 'mine.acme.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- its own tenant's domains it manages
SELECT tenant_domain_add('acme-corp', 'new.acme.test') AS new_token \gset
SELECT tenant_domain_verify('new.acme.test', 'wrong');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_verify('NEW.acme.test', :'new_token');
SELECT tenant_domain_set_primary('app.acme.test');
SELECT domain, verified_at IS NOT NULL AS verified, is_primary FROM tenant.domains ORDER BY domain;
SELECT tenant_domain_remove('new.acme.test');
-- a user who is not an admin is refused before any domain is looked up
SELECT set_config('app.current_user_id', '33333333-3333-4333-8333-333333333333', true) IS NOT NULL AS carol;
SELECT tenant_domain_remove('globex.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_domain_remove('app.acme.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- and so is a session acting for no tenant
SELECT set_config('app.current_tenant', '', true) = '' AS no_tenant;
SELECT tenant_domain_verify('globex.test', 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
ROLLBACK;

-- A long bad domain is not copied whole into the error.
SELECT tenant_domain_add('acme-corp', repeat('a', 100000) || '.test');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
