-- Claims set by proxies that verify JWTs themselves (pg_tenant.context_source),
-- each in the transaction shape the proxy sends, as the role it switches to:
-- PostgREST/Supabase (set_config('request.jwt.claims', ..., true) and the
-- role by set_config('role', ..., true) or SET LOCAL ROLE), Hasura
-- (SET LOCAL "hasura.user" = '{...}'), nself (hasura.user.<claim>).
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY default

-- The settings are superuser-only (once the library is loaded; a placeholder
-- set before is dropped when it loads, as context_guard.sql shows).
SELECT current_tenant_id() IS NULL AS library_loaded;
SET ROLE app_user;
SET pg_tenant.context_source = 'postgrest';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

CREATE ROLE authenticator LOGIN NOINHERIT;
CREATE ROLE web_user NOLOGIN;
GRANT web_user TO authenticator;
CREATE ROLE hasura_app LOGIN;
SET ROLE migrator;
CREATE TABLE claim_notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid, body text);
GRANT SELECT, INSERT ON claim_notes TO web_user, hasura_app;
SELECT tenant_enable('claim_notes') IS NOT NULL AS enabled;
RESET ROLE;
-- A DBA names the source for the proxy's login role.
ALTER ROLE authenticator SET pg_tenant.context_source = 'postgrest';
ALTER ROLE authenticator SET pg_tenant.claims_tenant_path = 'app_metadata.tenant_id';
ALTER ROLE hasura_app SET pg_tenant.context_source = 'hasura';

\c - authenticator
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SHOW pg_tenant.context_source;
-- PostgREST's transaction: its settings in one statement, then the query.
BEGIN;
SELECT set_config('search_path', 'public', true) IS NOT NULL AS search_path,
       set_config('role', 'web_user', true) AS role,
       set_config('request.jwt.claims', '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "web_user", "app_metadata": {"tenant_id": "aaaaaaaa-0000-4000-8000-000000000001"}}', true) IS NOT NULL AS claims,
       set_config('request.method', 'POST', true) AS method;
SELECT current_user, current_tenant_id(), current_tenant_user_id();
INSERT INTO claim_notes (body) VALUES ('acme, from PostgREST') RETURNING tenant_id;
COMMIT;
-- Another tenant's claims, with SET LOCAL ROLE: only its own rows.
BEGIN;
SET LOCAL ROLE web_user;
SELECT set_config('request.jwt.claims', '{"sub": "b0000000-0000-4000-8000-00000000000b", "app_metadata": {"tenant_id": "bbbbbbbb-0000-4000-8000-000000000002"}}', true) IS NOT NULL AS claims;
INSERT INTO claim_notes (body) VALUES ('globex, from PostgREST');
SELECT body FROM claim_notes ORDER BY body;
-- A row for another tenant is refused (PT021).
INSERT INTO claim_notes (tenant_id, body) VALUES ('aaaaaaaa-0000-4000-8000-000000000001', 'planted');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
-- The next transaction on the connection inherits nothing.
BEGIN;
SET LOCAL ROLE web_user;
SELECT current_tenant_id() IS NULL AS no_tenant, count(*) AS rows_seen FROM claim_notes;
-- Claims without the tenant claim: no tenant (an anonymous request).
SELECT set_config('request.jwt.claims', '{"role": "web_user"}', true) IS NOT NULL AS claims;
SELECT current_tenant_id() IS NULL AS no_tenant, count(*) AS rows_seen FROM claim_notes;
INSERT INTO claim_notes (body) VALUES ('anonymous');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
-- A claim that is not a UUID, claims that are not JSON.
BEGIN;
SET LOCAL ROLE web_user;
SELECT set_config('request.jwt.claims', '{"app_metadata": {"tenant_id": "acme"}}', true) IS NOT NULL AS claims;
SELECT count(*) FROM claim_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_config('request.jwt.claims', 'not json', true) IS NOT NULL AS claims;
SELECT count(*) FROM claim_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_config('request.jwt.claims', '["aaaaaaaa-0000-4000-8000-000000000001"]', true) IS NOT NULL AS claims;
SELECT count(*) FROM claim_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- A savepoint rolled back takes its claims with it.
BEGIN;
SET LOCAL ROLE web_user;
SELECT set_config('request.jwt.claims', '{"app_metadata": {"tenant_id": "bbbbbbbb-0000-4000-8000-000000000002"}}', true) IS NOT NULL AS claims;
SAVEPOINT s;
SELECT set_config('request.jwt.claims', '{"app_metadata": {"tenant_id": "aaaaaaaa-0000-4000-8000-000000000001"}}', true) IS NOT NULL AS claims;
SELECT current_tenant_id();
ROLLBACK TO SAVEPOINT s;
SELECT current_tenant_id();
ROLLBACK;
-- Beside a proxy source the claims name the tenant: app.current_tenant alone
-- is refused unless tenant_set_token named it (PT005) -- a value stored for
-- the role, which PostgREST re-applies to every request, included -- and
-- when both name a tenant they must agree (PT005).
BEGIN;
SET LOCAL ROLE web_user;
SELECT set_config('app.current_tenant', 'bbbbbbbb-0000-4000-8000-000000000002', true) IS NOT NULL AS named;
SELECT body FROM claim_notes ORDER BY body;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL ROLE web_user;
SELECT set_config('app.current_tenant', 'bbbbbbbb-0000-4000-8000-000000000002', true) IS NOT NULL AS named;
SELECT set_config('request.jwt.claims', '{"app_metadata": {"tenant_id": "aaaaaaaa-0000-4000-8000-000000000001"}}', true) IS NOT NULL AS claims;
SELECT count(*) FROM claim_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- The same claims under a name in other letter case are the same setting,
-- also in a new session where that spelling came first.
\c - authenticator
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SET LOCAL ROLE web_user;
SELECT set_config('Request.JWT.Claims', '{"app_metadata": {"tenant_id": "bbbbbbbb-0000-4000-8000-000000000002"}}', true) IS NOT NULL AS claims;
SELECT current_tenant_id();
ROLLBACK;
-- Claims set for the whole session are refused, as app.current_tenant is (25000).
SELECT set_config('request.jwt.claims', '{"app_metadata": {"tenant_id": "aaaaaaaa-0000-4000-8000-000000000001"}}', false) IS NOT NULL AS claims;
SET ROLE web_user;
SELECT count(*) FROM claim_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET request.jwt.claims;
-- The trust model: any role that runs SQL can set the claims itself. The
-- proxy verifies the JWT; SQL the API lets users run could spoof it. With
-- pg_tenant.require_token = on a claimed tenant must also be proven by
-- tenant_set_token in the same transaction, or it is refused (PT002).
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
ALTER ROLE authenticator SET pg_tenant.require_token = on;
\c - authenticator
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SET LOCAL ROLE web_user;
SELECT set_config('request.jwt.claims', '{"app_metadata": {"tenant_id": "aaaaaaaa-0000-4000-8000-000000000001"}}', true) IS NOT NULL AS spoofed;
SELECT count(*) FROM claim_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Hasura: SET LOCAL "hasura.user" with its session variables.
\c - hasura_app
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SET LOCAL "hasura.user" = '{"x-hasura-role": "user", "x-hasura-tenant-id": "bbbbbbbb-0000-4000-8000-000000000002", "x-hasura-user-id": "b0000000-0000-4000-8000-00000000000b"}';
SELECT current_tenant_id(), current_tenant_user_id();
INSERT INTO claim_notes (body) VALUES ('globex, from Hasura');
SELECT body FROM claim_notes ORDER BY body;
COMMIT;
BEGIN;
SELECT count(*) AS rows_without_claims FROM claim_notes;
COMMIT;

-- nself: its seed policies read current_setting('hasura.user.x-hasura-tenant-id'),
-- a setting PostgreSQL refuses to create (42602), so they read NULL; the nself
-- source reads that claim from hasura.user, which Hasura sets.
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
ALTER ROLE hasura_app SET pg_tenant.context_source = 'nself';
\c - hasura_app
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT set_config('hasura.user.x-hasura-tenant-id', 'aaaaaaaa-0000-4000-8000-000000000001', true) IS NOT NULL AS named;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
BEGIN;
SELECT current_setting('hasura.user.x-hasura-tenant-id', true) IS NULL AS what_nself_policies_read;
SET LOCAL "hasura.user" = '{"x-hasura-role": "user", "x-hasura-tenant-id": "aaaaaaaa-0000-4000-8000-000000000001"}';
SELECT current_tenant_id();
SELECT body FROM claim_notes ORDER BY body;
COMMIT;

\c - postgres
\set SHOW_CONTEXT never
ALTER ROLE authenticator RESET ALL;
ALTER ROLE hasura_app RESET ALL;
SET ROLE migrator;
SELECT tenant_disable('claim_notes') IS NOT NULL AS disabled;
DROP TABLE claim_notes;
RESET ROLE;
DROP ROLE authenticator, web_user, hasura_app;
