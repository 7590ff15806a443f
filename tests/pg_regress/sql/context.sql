-- Session context: current_tenant_id() and current_tenant_user_id(), as app_user.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE app_user;

-- Nothing set: NULL.
SELECT current_tenant_id() IS NULL AS unset_is_null, current_tenant_user_id() IS NULL AS user_unset_is_null;

-- A transaction-local setting reads back as '' once its transaction ended: NULL too.
BEGIN;
SELECT act_as('acme-corp');
SELECT current_tenant_id() = (SELECT id FROM tenant.tenants) AS set_inside_transaction;
COMMIT;
SELECT current_setting('app.current_tenant') = '' AS empty_after_commit, current_tenant_id() IS NULL AS empty_is_null;

-- A value that is not a UUID: SQLSTATE 22P02, message names the setting and the value.
BEGIN;
SELECT set_config('app.current_tenant', 'acme-corp', true) IS NOT NULL;
SELECT current_tenant_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_config('app.current_user_id', '42', true) IS NOT NULL;
SELECT current_tenant_user_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Any textual UUID form Postgres accepts works, upper case and unhyphenated included.
BEGIN;
SELECT set_config('app.current_user_id', 'A0EEBC999C0B4EF8BB6D6BB9BD380A11', true) IS NOT NULL;
SELECT current_tenant_user_id();
ROLLBACK;

-- A well-formed UUID that names no tenant is refused (42501), not treated as an empty tenant.
BEGIN;
SELECT set_config('app.current_tenant', '00000000-0000-4000-8000-000000000000', true) IS NOT NULL;
SELECT current_tenant_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- The registry shows an application role its own tenant only.
BEGIN;
SELECT act_as('globex');
SELECT slug, status FROM tenant.tenants;
ROLLBACK;
SELECT count(*) AS registry_rows_without_context FROM tenant.tenants;

-- Volatility as the planner needs it: STABLE. PARALLEL RESTRICTED: evaluated
-- by the leader only (the policy's InitPlan hands the value to parallel workers).
SELECT proname, provolatile, proparallel FROM pg_proc
 WHERE proname IN ('current_tenant_id', 'current_tenant_user_id', 'tenant_bypass_requested')
 ORDER BY proname;
RESET ROLE;

-- A value set for the transaction before pg_tenant's library is loaded in a
-- session (Postgres keeps it as a placeholder) is taken over when the library
-- loads. A fresh session as superuser: nothing here calls pg_tenant until
-- current_tenant_id(). (A session-level value set before the library loads
-- is refused like any other: context_guard.sql.)
\c
SELECT current_setting('app.current_tenant', true) IS NULL AS library_not_loaded_yet;
BEGIN;
SELECT set_config('app.current_tenant', id::text, true) IS NOT NULL AS set_before_load
  FROM tenant.tenants WHERE slug = 'acme-corp';
SET ROLE app_user;
SELECT slug AS placeholder_taken_over FROM tenant.tenants WHERE id = current_tenant_id();
-- Once loaded, the setting is pg_tenant's own, described for DBAs.
SELECT name, context, short_desc FROM pg_settings WHERE name = 'app.current_tenant';
RESET ROLE;
COMMIT;
-- The same for a value that is not a UUID: the error comes when it is read.
\c
BEGIN;
SELECT set_config('app.current_tenant', 'acme-corp', true) IS NOT NULL AS set_before_load;
SET ROLE app_user;
SELECT current_tenant_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
