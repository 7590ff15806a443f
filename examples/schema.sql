-- The database the examples run against (examples/run.sh loads it as a
-- superuser into a throwaway cluster that preloads pg_tenant and has the
-- HS256 key "example-hs" in pg_tenant.jwt_keys).
CREATE EXTENSION pg_tenant;

-- The application's login role: ordinary (not superuser, no BYPASSRLS, not
-- the tables' owner), so row-level security holds it back.
CREATE ROLE example_app LOGIN;
-- A stricter application role: tenants only from verified tokens, tokens
-- only for members, claims from PostgREST's request.jwt.claims.
CREATE ROLE example_strict LOGIN;
ALTER ROLE example_strict SET pg_tenant.require_token = on;
ALTER ROLE example_strict SET pg_tenant.token_requires_membership = on;
ALTER ROLE example_strict SET pg_tenant.context_source = 'postgrest';

CREATE TABLE notes (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid,
    body      text NOT NULL
);
SELECT tenant_enable('notes') IS NOT NULL AS enabled;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO example_app, example_strict;

-- Tenants, each set up for one refusal the examples provoke.
SELECT tenant_create('Acme', 'acme', owner => 'a0000000-0000-4000-8000-00000000000a') IS NOT NULL,
       tenant_create('Globex', 'globex') IS NOT NULL,
       tenant_create('Paused', 'paused') IS NOT NULL,
       tenant_create('Gone', 'gone') IS NOT NULL,
       tenant_create('Row Cap', 'rowcap') IS NOT NULL,
       tenant_create('Byte Cap', 'bytecap') IS NOT NULL,
       tenant_create('Seat Cap', 'seatcap', owner => 'a0000000-0000-4000-8000-00000000000a') IS NOT NULL,
       tenant_create('Api Cap', 'apicap') IS NOT NULL;
SELECT tenant_suspend('paused') IS NOT NULL, tenant_delete('gone') IS NOT NULL;
SELECT tenant_quota_set('rowcap', 'notes', 0) IS NOT NULL,
       tenant_limit_set('bytecap', 'storage_bytes', 1) IS NOT NULL,
       tenant_limit_set('seatcap', 'members', 1) IS NOT NULL,
       tenant_limit_set('apicap', 'api_requests_per_month', 0) IS NOT NULL;
