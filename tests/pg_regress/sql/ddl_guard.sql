-- The DDL guard: as the migration role (the tables' owner), every statement
-- that would weaken a tenant-scoped table is refused (55000) and changes
-- nothing; tenant_enable and tenant_disable pass; a new permissive policy is
-- a WARNING; pg_tenant.ddl_guard = 'warn'/'off' (superuser-only); dropped,
-- renamed and moved tables keep tenant.tables true.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY default

SET ROLE migrator;
CREATE TABLE guarded (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid, body text);
GRANT SELECT, INSERT, UPDATE, DELETE ON guarded TO app_user;
SELECT tenant_enable('guarded') IS NOT NULL AS enabled;
CREATE TABLE unguarded (id int, tenant_id uuid);

-- Refused, each naming the table and the fix.
ALTER TABLE guarded DISABLE ROW LEVEL SECURITY;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
ALTER TABLE guarded NO FORCE ROW LEVEL SECURITY;
DROP POLICY tenant_isolation ON guarded;
DROP POLICY IF EXISTS tenant_bypass ON guarded;
ALTER POLICY tenant_isolation ON guarded USING (true);
ALTER POLICY tenant_isolation ON guarded RENAME TO old_isolation;
DROP TRIGGER tenant_set_id ON guarded;
ALTER TRIGGER tenant_set_id ON guarded RENAME TO old_fill;
ALTER TABLE guarded DISABLE TRIGGER tenant_set_id;
ALTER TABLE guarded ENABLE REPLICA TRIGGER tenant_set_id;
ALTER TABLE guarded DISABLE TRIGGER tenant_usage_insert;
ALTER TABLE guarded DISABLE TRIGGER ALL;
ALTER TABLE guarded DISABLE TRIGGER USER;
DROP TRIGGER tenant_usage_delete ON guarded;
ALTER TABLE guarded ALTER COLUMN tenant_id DROP NOT NULL;
ALTER TABLE guarded ALTER COLUMN tenant_id TYPE text;
ALTER TABLE guarded DROP COLUMN tenant_id;
ALTER TABLE guarded RENAME COLUMN tenant_id TO owner_id;
ALTER TABLE guarded DROP CONSTRAINT guarded_tenant_id_fkey;
-- Replacing or tying a trigger to an extension, renaming tenant_id through
-- another object kind, putting the table under one that is not tenant-scoped.
CREATE OR REPLACE TRIGGER tenant_usage_insert AFTER INSERT ON guarded REFERENCING NEW TABLE AS tenant_new_rows
    FOR EACH STATEMENT WHEN (false) EXECUTE FUNCTION tenant_count_usage();
ALTER TRIGGER tenant_usage_insert ON guarded DEPENDS ON EXTENSION plpgsql;
ALTER VIEW guarded RENAME COLUMN tenant_id TO owner_id;
ALTER TABLE guarded INHERIT unguarded;
CREATE TABLE unscoped_parent (id int, tenant_id uuid NOT NULL, body text) PARTITION BY LIST (body);
ALTER TABLE unscoped_parent ATTACH PARTITION guarded DEFAULT;
DROP TABLE unscoped_parent;
-- A rule (its actions run with the owner's rights); altering the foreign key.
CREATE RULE redirect AS ON INSERT TO guarded DO INSTEAD NOTHING;
ALTER TABLE guarded ALTER CONSTRAINT guarded_tenant_id_fkey DEFERRABLE;
-- PostgreSQL 18 names tenant_id's NOT NULL as a constraint: dropping it is refused
-- too (earlier majors have no such constraint; the NOT NULL stays either way).
DO $$
DECLARE c text;
BEGIN
    SELECT conname INTO c FROM pg_constraint
     WHERE conrelid = 'guarded'::regclass AND contype::text = 'n' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = 'guarded'::regclass AND attname = 'tenant_id')];
    IF c IS NOT NULL THEN
        BEGIN
            EXECUTE format('ALTER TABLE guarded DROP CONSTRAINT %I', c);
        EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL;
        END;
    END IF;
END $$;
SELECT attnotnull AS tenant_id_not_null FROM pg_attribute WHERE attrelid = 'guarded'::regclass AND attname = 'tenant_id';
-- Renaming tenant_id through the composite type of a typed table.
CREATE TYPE guarded_row AS (id int, tenant_id uuid, body text);
CREATE TABLE typed_guarded OF guarded_row;
SELECT tenant_enable('typed_guarded') IS NOT NULL AS enabled;
ALTER TYPE guarded_row RENAME ATTRIBUTE tenant_id TO owner_id CASCADE;
SELECT attname FROM pg_attribute WHERE attrelid = 'typed_guarded'::regclass AND attnum > 0 ORDER BY attnum;
SELECT tenant_disable('typed_guarded') IS NOT NULL AS disabled;
DROP TABLE typed_guarded;
DROP TYPE guarded_row;
-- One weakening subcommand refuses the whole statement.
ALTER TABLE guarded ADD COLUMN extra int, DISABLE ROW LEVEL SECURITY;
\set VERBOSITY default
-- Nothing changed: the table is whole, and isolates.
SELECT column_name FROM information_schema.columns WHERE table_name = 'guarded' ORDER BY ordinal_position;
SELECT "check", status FROM tenant_check() WHERE object = 'public.guarded' AND status <> 'ok' ORDER BY 1;
RESET ROLE;
SET ROLE app_user;
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO guarded (body) VALUES ('acme');
SELECT count(*) AS acme_rows FROM guarded;
ROLLBACK;
RESET ROLE;

-- Allowed: everything else, and every statement on tables that are not tenant-scoped.
SET ROLE migrator;
ALTER TABLE guarded ADD COLUMN note text;
ALTER TABLE guarded ALTER COLUMN note SET DEFAULT 'n/a';
ALTER TABLE guarded ENABLE ALWAYS TRIGGER tenant_set_id;
ALTER TABLE guarded ENABLE TRIGGER tenant_set_id;
ALTER TABLE unguarded ENABLE ROW LEVEL SECURITY;
ALTER TABLE unguarded DISABLE ROW LEVEL SECURITY;
ALTER TABLE unguarded DROP COLUMN tenant_id;
CREATE POLICY own_only ON guarded AS RESTRICTIVE FOR DELETE USING (body IS NOT NULL);
DROP POLICY own_only ON guarded;
-- A permissive policy widens what the table shows: a WARNING.
CREATE POLICY everyone_reads ON guarded FOR SELECT USING (true);
DROP POLICY everyone_reads ON guarded;
RESET ROLE;

-- Through a parent that is not tenant-scoped: its changes recurse into a
-- tenant-scoped child (with ONLY they do not).
SET ROLE migrator;
CREATE TABLE plain_parent (id int, tenant_id uuid NOT NULL);
CREATE TABLE scoped_child () INHERITS (plain_parent);
SELECT tenant_enable('scoped_child') IS NOT NULL AS enabled;
ALTER TABLE plain_parent ALTER COLUMN tenant_id DROP NOT NULL;
ALTER TABLE plain_parent RENAME COLUMN tenant_id TO owner_id;
ALTER TABLE ONLY plain_parent ALTER COLUMN tenant_id SET DEFAULT NULL;
-- The table's own triggers run outside tenant_enable's pass: a backfill
-- that fires one which weakens another table is refused.
CREATE TABLE bait (id int, tenant_id uuid);
INSERT INTO bait VALUES (1, NULL);
CREATE FUNCTION weaken() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'ALTER TABLE public.guarded DISABLE ROW LEVEL SECURITY'; RETURN NEW; END $$;
CREATE TRIGGER weaken BEFORE UPDATE ON bait FOR EACH ROW EXECUTE FUNCTION weaken();
SELECT tenant_enable('bait', backfill_tenant => 'acme-corp') IS NOT NULL AS enabled;
SELECT relrowsecurity FROM pg_class WHERE relname = 'guarded';
DROP TABLE bait;
DROP FUNCTION weaken();
RESET ROLE;
-- A policy dropped without being named: DROP OWNED BY tenant_bypass would
-- drop every tenant_bypass policy (the role is their only one).
DROP OWNED BY tenant_bypass;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS bypass_policies_left FROM pg_policy WHERE polname = 'tenant_bypass' AND polrelid = 'guarded'::regclass;
SET ROLE migrator;

-- The setting is superuser-only.
SET ROLE migrator;
SET pg_tenant.ddl_guard = off;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- warn: the statement runs, with a WARNING; tenant_enable puts the table right again.
SET pg_tenant.ddl_guard = warn;
SET ROLE migrator;
ALTER TABLE guarded NO FORCE ROW LEVEL SECURITY;
SELECT relforcerowsecurity FROM pg_class WHERE relname = 'guarded';
RESET ROLE;
RESET pg_tenant.ddl_guard;
SET ROLE migrator;
SELECT tenant_enable('guarded') AS repaired;
SELECT relforcerowsecurity FROM pg_class WHERE relname = 'guarded';
-- tenant_disable (and tenant_enable) pass the guard.
SELECT tenant_disable('guarded') IS NOT NULL AS disabled;
SELECT count(*) AS pg_tenant_policies FROM pg_policy WHERE polrelid = 'guarded'::regclass;
SELECT tenant_enable('guarded') IS NOT NULL AS enabled_again;

-- The registry stays true: a renamed table, one moved to another schema,
-- one dropped (also with its schema).
ALTER TABLE guarded RENAME TO guarded_renamed;
RESET ROLE;
CREATE SCHEMA moved AUTHORIZATION migrator;
SET ROLE migrator;
ALTER TABLE guarded_renamed SET SCHEMA moved;
RESET ROLE;
SELECT relid::text FROM tenant.tables WHERE relid::text LIKE '%guarded%';
SET ROLE migrator;
DROP TABLE moved.guarded_renamed;
RESET ROLE;
SELECT count(*) AS registry_rows_left FROM tenant.tables WHERE relid::text LIKE '%guarded%';
SET ROLE migrator;
CREATE TABLE moved.doomed (id int, tenant_id uuid);
SELECT tenant_enable('moved.doomed') IS NOT NULL AS enabled;
RESET ROLE;
DROP SCHEMA moved CASCADE;
SELECT count(*) AS registry_rows_left FROM tenant.tables WHERE NOT EXISTS (SELECT FROM pg_class WHERE oid = relid);
SET ROLE migrator;
DROP TABLE unguarded;
SELECT tenant_disable('scoped_child') IS NOT NULL AS disabled;
DROP TABLE plain_parent CASCADE;

-- A partition created under a tenant-scoped parent, or attached to one, is
-- tenant-scoped at once: reached directly it isolates too.
CREATE TABLE gevents (id int, tenant_id uuid, at date NOT NULL) PARTITION BY RANGE (at);
SELECT tenant_enable('gevents') IS NOT NULL AS enabled;
CREATE TABLE gevents_2026 PARTITION OF gevents FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE gevents_2027 (id int, tenant_id uuid NOT NULL, at date NOT NULL);
ALTER TABLE gevents ATTACH PARTITION gevents_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
GRANT SELECT, INSERT ON gevents, gevents_2026, gevents_2027 TO app_user;
SELECT c.relname, count(p.polname) AS policies, bool_or(c.relforcerowsecurity) AS forced
  FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
 WHERE c.relname LIKE 'gevents%' GROUP BY c.relname ORDER BY c.relname;
RESET ROLE;
SELECT relid::text FROM tenant.tables WHERE relid::text LIKE 'gevents%' ORDER BY 1;
SET ROLE app_user;
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO gevents (id, at) VALUES (1, '2026-06-01'), (2, '2027-06-01');
SELECT (SELECT count(*) FROM gevents_2026) AS acme_2026, (SELECT count(*) FROM gevents_2027) AS acme_2027;
SELECT act_as('globex');
SELECT count(*) AS globex_sees_directly FROM gevents_2026;
SELECT count(*) AS globex_sees_directly FROM gevents_2027;
ROLLBACK;
RESET ROLE;
SET ROLE migrator;
DROP TABLE gevents;
RESET ROLE;
SELECT count(*) AS registry_rows_left FROM tenant.tables WHERE relid::text LIKE 'gevents%';
