-- Errors an application maps by SQLSTATE alone: every refusal of
-- tenant_error_codes() that a session without a token can meet, raised as
-- app_user (the ordinary application role), each with its own code; a
-- PL/pgSQL handler catches them by code; tenant_set(uuid) takes a typed
-- parameter. Token refusals (PT002-PT004, PT014) need pg_tenant preloaded:
-- src/api/token.rs tests them.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY default

-- The map itself, as applications can load it.
SELECT sqlstate, refusal, http_status FROM tenant_error_codes();
SELECT count(DISTINCT sqlstate) = count(*) AS codes_distinct FROM tenant_error_codes();

SET ROLE migrator;
CREATE TABLE err_invoices (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid, amount int);
GRANT SELECT, INSERT, UPDATE, DELETE ON err_invoices TO app_user;
SELECT tenant_enable('err_invoices') IS NOT NULL AS enabled;
SELECT tenant_create('Err Co', 'err-co') IS NOT NULL AS created,
       tenant_create('Gone Co', 'gone-co') IS NOT NULL AS created,
       tenant_create('Paused Co', 'paused-co') IS NOT NULL AS created;
RESET ROLE;
UPDATE tenant.tenants SET id = CASE slug
    WHEN 'err-co'    THEN 'e0000000-0000-4000-8000-00000000000e'::uuid
    WHEN 'gone-co'   THEN 'd0000000-0000-4000-8000-00000000000d'::uuid
    ELSE 'c0000000-0000-4000-8000-00000000000c'::uuid END
 WHERE slug IN ('err-co', 'gone-co', 'paused-co');
SET ROLE migrator;
SELECT tenant_suspend('paused-co') IS NOT NULL AS suspended;
SELECT tenant_delete('gone-co') IS NOT NULL AS deleted;
RESET ROLE;

SET ROLE app_user;
-- PT001: no tenant in context.
INSERT INTO err_invoices (amount) VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- PT011: the tenant in context does not exist (by set_config, by tenant_set).
BEGIN;
SELECT set_config('app.current_tenant', '00000000-0000-4000-8000-0000000000ff', true) IS NOT NULL AS named;
SELECT count(*) FROM err_invoices;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_set('no-such-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- PT012 suspended, PT013 deleted.
BEGIN;
SELECT set_config('app.current_tenant', 'c0000000-0000-4000-8000-00000000000c', true) IS NOT NULL AS named;
SELECT count(*) FROM err_invoices;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_config('app.current_tenant', 'd0000000-0000-4000-8000-00000000000d', true) IS NOT NULL AS named;
SELECT count(*) FROM err_invoices;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- PT021: an inserted row names another tenant (the same message for any
-- other tenant, existing or not).
BEGIN;
SELECT tenant_set('err-co') IS NOT NULL AS named;
INSERT INTO err_invoices (tenant_id, amount) VALUES ('aaaaaaaa-0000-4000-8000-000000000001', 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO err_invoices (tenant_id, amount) VALUES ('00000000-0000-4000-8000-0000000000ff', 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO err_invoices (tenant_id, amount) VALUES ('e0000000-0000-4000-8000-00000000000e', 3);
INSERT INTO err_invoices (amount) VALUES (4);
SELECT amount FROM err_invoices ORDER BY amount;
-- Moving a row to another tenant is refused by row-level security (42501).
UPDATE err_invoices SET tenant_id = 'aaaaaaaa-0000-4000-8000-000000000001' WHERE amount = 3;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
-- 22P02 malformed, 25000 named for longer than the transaction.
BEGIN;
SELECT set_config('app.current_tenant', 'acme', true) IS NOT NULL AS named;
SELECT count(*) FROM err_invoices;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT set_config('app.current_tenant', 'e0000000-0000-4000-8000-00000000000e', false) IS NOT NULL AS named_for_the_session;
SELECT count(*) FROM err_invoices;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET app.current_tenant;

-- tenant_set(uuid): a typed uuid parameter, as drivers send one.
BEGIN;
PREPARE name_tenant(uuid) AS SELECT tenant_set($1);
EXECUTE name_tenant('e0000000-0000-4000-8000-00000000000e');
SELECT current_tenant_id();
EXECUTE name_tenant('c0000000-0000-4000-8000-00000000000c');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
EXECUTE name_tenant(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- An untyped literal still reaches tenant_set(text) (slug or id).
SELECT tenant_set('err-co') = tenant_set('e0000000-0000-4000-8000-00000000000e') AS same_tenant;
DEALLOCATE name_tenant;
ROLLBACK;

-- PL/pgSQL sees the same codes: a handler catches a refusal by SQLSTATE.
CREATE FUNCTION pg_temp.try_tenant(t uuid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('app.current_tenant', t::text, true);
    PERFORM count(*) FROM err_invoices;
    RETURN 'ok';
EXCEPTION
    WHEN SQLSTATE 'PT012' THEN RETURN 'suspended (PT012)';
    WHEN SQLSTATE 'PT013' THEN RETURN 'deleted (PT013)';
    WHEN SQLSTATE 'PT011' THEN RETURN 'unknown (PT011)';
END $$;
SELECT pg_temp.try_tenant('c0000000-0000-4000-8000-00000000000c'),
       pg_temp.try_tenant('d0000000-0000-4000-8000-00000000000d'),
       pg_temp.try_tenant('00000000-0000-4000-8000-0000000000ff'),
       pg_temp.try_tenant('e0000000-0000-4000-8000-00000000000e');
-- Also when the refusal is raised inside a utility statement (a CALL): pg_tenant's
-- utility hook lets it through with its code.
CREATE PROCEDURE pg_temp.read_invoices(t uuid) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('app.current_tenant', t::text, true);
    PERFORM count(*) FROM err_invoices;
END $$;
CREATE FUNCTION pg_temp.try_call(t uuid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    CALL pg_temp.read_invoices(t);
    RETURN 'ok';
EXCEPTION
    WHEN SQLSTATE 'PT012' THEN RETURN 'suspended (PT012)';
    WHEN SQLSTATE 'PT011' THEN RETURN 'unknown (PT011)';
END $$;
SELECT pg_temp.try_call('c0000000-0000-4000-8000-00000000000c'),
       pg_temp.try_call('00000000-0000-4000-8000-0000000000ff'),
       pg_temp.try_call('e0000000-0000-4000-8000-00000000000e');
-- After a caught refusal, an ordinary refusal keeps its own code.
SELECT tenant_suspend('err-co');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

SET ROLE migrator;
SELECT tenant_disable('err_invoices') IS NOT NULL AS disabled;
DROP TABLE err_invoices;
RESET ROLE;
