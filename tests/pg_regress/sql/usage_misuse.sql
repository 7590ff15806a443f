-- The usage-counting trigger function writes counters with the registry
-- owner's rights. It counts only in the triggers tenant_enable attaches, by
-- name and event, on a permanent table: a table owner attaching it under
-- another name, or any role (TEMP is PUBLIC's) attaching it to a temporary
-- table of its own to write counters for any tenant, is refused (09000),
-- and temporary tables cannot be registered at all (42809).
-- A write with RETURNING stopped early by an SPI row limit fires no statement
-- trigger, so its transaction is refused at commit (pg_tests in
-- src/enforce/usage.rs; no PL here gives SPI a limit). PL/pgSQL's
-- `RETURNING ... INTO` runs with a limit of two and raises P0003 on a second
-- row: that error, and its handlers, stay as they are (below).
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
CREATE TABLE um_notes (id bigserial PRIMARY KEY, body text);
SELECT tenant_enable('um_notes', add_column => true) IS NOT NULL AS enabled;
SELECT tenant_create('Misuse Co', 'misuse-co') IS NOT NULL AS created;
GRANT SELECT, INSERT, UPDATE, DELETE ON um_notes TO app_user;
GRANT USAGE ON SEQUENCE um_notes_id_seq TO app_user;
CREATE TRIGGER zz_count_again AFTER UPDATE ON um_notes REFERENCING OLD TABLE AS o
    FOR EACH STATEMENT EXECUTE FUNCTION tenant_count_usage();
RESET ROLE;
SET ROLE app_user;
BEGIN;
SELECT act_as('misuse-co');
INSERT INTO um_notes (body) VALUES ('counted once');
UPDATE um_notes SET body = 'changed';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
RESET ROLE;
SET ROLE migrator;
DROP TRIGGER zz_count_again ON um_notes;
RESET ROLE;

-- PL/pgSQL's RETURNING ... INTO that meets two rows: P0003, caught by its
-- handler, and the transaction commits.
SET ROLE app_user;
BEGIN;
SELECT act_as('misuse-co');
INSERT INTO um_notes (body) VALUES ('second');
DO $$
DECLARE v bigint;
BEGIN
    UPDATE um_notes SET body = 'both' RETURNING id INTO v;
EXCEPTION WHEN too_many_rows THEN
    RAISE NOTICE 'caught %', SQLSTATE;
END $$;
COMMIT;
RESET ROLE;

-- A permanent table its owner registered without counting its rows, then gave
-- a trigger with the right name: the registry does not count it, so the
-- trigger is refused rather than subtract rows that were never added.
SET ROLE migrator;
CREATE TABLE um_registered (tenant_id uuid, pad text);
SELECT _tenant_register_table('um_registered', false, false);
INSERT INTO um_registered SELECT id, repeat('x', 100000) FROM tenant.tenants WHERE slug = 'misuse-co';
CREATE TRIGGER tenant_usage_delete AFTER DELETE ON um_registered REFERENCING OLD TABLE AS o
    FOR EACH STATEMENT EXECUTE FUNCTION tenant_count_usage();
DELETE FROM um_registered;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE um_registered;
RESET ROLE;

-- A table whose owner stops its counting directly (_tenant_usage_stop leaves
-- the triggers): from then on the triggers refuse, also in this session,
-- which had counted through them.
SET ROLE migrator;
CREATE TABLE um_stopped (id bigserial PRIMARY KEY, body text);
SELECT tenant_enable('um_stopped', add_column => true) IS NOT NULL AS enabled;
BEGIN;
SELECT act_as('misuse-co');
INSERT INTO um_stopped (body) SELECT repeat('x', 1000) FROM generate_series(1, 5);
COMMIT;
SELECT _tenant_usage_stop('um_stopped');
BEGIN;
SELECT act_as('misuse-co');
DELETE FROM um_stopped;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
SELECT tenant_disable('um_stopped') IS NOT NULL AS disabled;
DROP TABLE um_stopped;
RESET ROLE;

-- A temporary table of an ordinary role.
SET ROLE app_user;
CREATE TEMP TABLE um_forge (tenant_id uuid, pad text);
SELECT _tenant_register_table('um_forge', false, false);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT _tenant_usage_start('um_forge');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TRIGGER tenant_usage_delete AFTER DELETE ON um_forge REFERENCING OLD TABLE AS o
    FOR EACH STATEMENT EXECUTE FUNCTION tenant_count_usage();
BEGIN;
SELECT act_as('misuse-co');
INSERT INTO um_forge VALUES (current_tenant_id(), repeat('x', 100000));
DELETE FROM um_forge;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
DROP TABLE um_forge;
RESET ROLE;
SET ROLE migrator;
CREATE TEMP TABLE um_temp (tenant_id uuid);
SELECT tenant_enable('um_temp');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE um_temp;
RESET ROLE;
-- Both transactions committed what was not refused; the counters are what
-- the rows say (had the forged triggers counted, they would not be).
SELECT count(*) AS corrections FROM tenant_usage_reconcile('misuse-co');

SET ROLE migrator;
SELECT tenant_disable('um_notes') IS NOT NULL AS disabled;
DROP TABLE um_notes;
SELECT tenant_delete('misuse-co') IS NOT NULL AS deleted;
RESET ROLE;
SELECT count(*) > 0 AS purged FROM tenant_purge('misuse-co', force => true);
