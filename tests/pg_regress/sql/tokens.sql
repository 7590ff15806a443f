-- tenant_set_token is tested with keys in src/api/token.rs (#[pg_test], a
-- server with pg_tenant preloaded). This cluster does not preload pg_tenant:
-- a session that had not loaded the library could read pg_tenant.jwt_keys as
-- a placeholder, so tenant_set_token refuses to run (55000) and sets nothing.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT tenant_set_token('eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLTEifQ.e30.c2ln');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT current_setting('app.current_tenant', true) = '' AS nothing_set;
COMMIT;
-- An application role cannot read or change the key set.
SELECT current_setting('pg_tenant.jwt_keys');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET pg_tenant.jwt_keys = '{"keys": []}';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET pg_tenant.require_token = off;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c - postgres
