-- What keeps a restored dump whole (tests/backup runs the restores
-- themselves): registry rows that name a missing tenant, plan or table are
-- refused with a message that says how to restore in order; the registry's
-- triggers cannot be disabled; tenant_check finds what was written past the
-- foreign keys and triggers (session_replication_role = replica here, a
-- restore with --disable-triggers in real life).
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY default
CREATE DATABASE pg_tenant_restore_guards;
\c pg_tenant_restore_guards
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
CREATE EXTENSION pg_tenant;
GRANT CREATE ON SCHEMA public TO migrator;
SELECT tenant_create('Acme', 'acme') IS NOT NULL AS acme;
INSERT INTO tenant.plans (id, name) VALUES ('gold', 'Gold');
SELECT tenant_plan_set('acme', 'gold');
SET ROLE migrator;
CREATE TABLE notes (tenant_id uuid NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), body text,
                    PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('notes') IS NOT NULL AS enabled;
GRANT SELECT, INSERT ON notes TO app_user;
BEGIN;
SELECT tenant_set('acme') IS NOT NULL AS acme;
INSERT INTO notes (body) VALUES ('one'), ('two');
COMMIT;
RESET ROLE;
SELECT "check", status FROM tenant_check() WHERE "check" IN ('registry_references', 'tenant_rows', 'usage_counters');

-- 1. Registry rows naming what the registry does not have: 23503, and the
--    hint says how to restore in order (even for a superuser).
INSERT INTO tenant.members (tenant_id, user_id) VALUES ('00000000-0000-4000-8000-0000000000ff', gen_random_uuid());
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO tenant.tenants (slug, name, plan) VALUES ('initech', 'Initech', 'platinum');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO tenant.plan_row_limits (plan_id, relid, max_rows) VALUES ('gold', 'pg_class', 5);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS nothing_written FROM tenant.members;

-- 2. A row of a tenant-scoped table that names an unknown tenant, written by
--    a session RLS does not filter (a restore, a bulk load): the same hint.
INSERT INTO notes (tenant_id, body) VALUES ('00000000-0000-4000-8000-0000000000ff', 'orphan');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
--    An application role is answered by the policy alone: nothing tells it
--    which tenants exist, also when the row lands in a partition that has no
--    policies of its own (found in review: the partition decided before).
SET ROLE migrator;
CREATE TABLE pnotes (tenant_id uuid NOT NULL, body text) PARTITION BY HASH (tenant_id);
CREATE TABLE pnotes_all PARTITION OF pnotes FOR VALUES WITH (MODULUS 1, REMAINDER 0);
SELECT tenant_enable('pnotes') IS NOT NULL AS enabled;
GRANT INSERT ON pnotes TO app_user;
RESET ROLE;
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
INSERT INTO notes (tenant_id, body) VALUES ('00000000-0000-4000-8000-0000000000ff', 'orphan');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO pnotes (tenant_id, body) VALUES ('00000000-0000-4000-8000-0000000000ff', 'orphan');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on

-- 3. The registry's triggers cannot be disabled (pg_restore --disable-triggers
--    issues exactly this); nor can a tenant-scoped table's (the DDL guard,
--    ddl_guard.sql).
ALTER TABLE tenant.plans DISABLE TRIGGER ALL;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE tenant.members DISABLE TRIGGER tenant_references;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE tenant.tenants DISABLE TRIGGER USER;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE tenant.tenants ENABLE REPLICA TRIGGER tenant_references;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE tenant.tenants ENABLE TRIGGER ALL, ENABLE ALWAYS TRIGGER tenant_references;
ALTER TABLE tenant.tenants ENABLE TRIGGER tenant_references;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'tenant.tenants'::regclass AND NOT tgisinternal ORDER BY 1;
BEGIN;
ALTER TABLE notes DISABLE TRIGGER ALL;
ROLLBACK;
SELECT _tenant_registry_guard();
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- 4. What foreign keys and triggers did not check, tenant_check does.
SET session_replication_role = replica;
DELETE FROM tenant.plans WHERE id = 'gold';
INSERT INTO tenant.settings (tenant_id, key, value) VALUES ('00000000-0000-4000-8000-0000000000ff', 'a.b', '1');
INSERT INTO notes (tenant_id, body) VALUES ('00000000-0000-4000-8000-0000000000ff', 'orphan'),
                                           ((SELECT id FROM tenant.tenants WHERE slug = 'acme'), 'uncounted');
INSERT INTO tenant.members (tenant_id, user_id) SELECT id, gen_random_uuid() FROM tenant.tenants WHERE slug = 'acme';
RESET session_replication_role;
SELECT "check", object, status, detail, fix FROM tenant_check()
 WHERE "check" IN ('registry_references', 'tenant_rows', 'usage_counters') ORDER BY 1, 2;
SELECT tenant_assert_check();
-- Repaired as the fixes say: the check is clean again.
INSERT INTO tenant.plans (id, name) VALUES ('gold', 'Gold');
DELETE FROM tenant.settings WHERE tenant_id NOT IN (SELECT id FROM tenant.tenants);
DELETE FROM notes WHERE tenant_id NOT IN (SELECT id FROM tenant.tenants);
SELECT counter, table_name, recorded, actual FROM tenant_usage_reconcile() ORDER BY 1;
SELECT "check", status FROM tenant_check() WHERE "check" IN ('registry_references', 'tenant_rows', 'usage_counters');

\c postgres
DROP DATABASE pg_tenant_restore_guards;
