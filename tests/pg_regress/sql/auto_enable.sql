-- pg_tenant.auto_enable: a table an ORM creates with a tenant_id uuid column
-- in one of pg_tenant.auto_enable_schemas is tenant-scoped in the same
-- statement, as the migration role that created it (not an operator); other
-- tables are left alone; both settings are superuser-only; a table it
-- cannot scope makes the statement fail; pg_dump's scripts
-- (row_security = off) are left alone. Partitions of tenant-scoped parents
-- are scoped with or without it, also as CREATE SCHEMA elements.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY terse

-- Off by default: nothing happens.
LOAD 'pg_tenant';
SHOW pg_tenant.auto_enable;
SHOW pg_tenant.auto_enable_schemas;
SET ROLE migrator;
CREATE TABLE ae_before (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid, body text);
SELECT count(*) AS registered FROM tenant.tables WHERE relid = 'ae_before'::regclass;
-- Superuser-only, both.
SET pg_tenant.auto_enable = on;
SET pg_tenant.auto_enable_schemas = 'anything';
DROP TABLE ae_before;
RESET ROLE;

SET pg_tenant.auto_enable = on;
SET ROLE migrator;
-- An ORM's CREATE TABLE: made tenant-scoped, said in a NOTICE.
CREATE TABLE ae_projects (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid, name text);
GRANT SELECT, INSERT, UPDATE, DELETE ON ae_projects TO app_user;
SELECT relid::regclass AS registered, track_usage FROM tenant.tables WHERE relid = 'ae_projects'::regclass;
SELECT "check", status FROM tenant_check() WHERE object LIKE 'public.ae_projects%' AND status <> 'ok' ORDER BY 1, 2;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'ae_projects'::regclass;
-- No tenant_id, or tenant_id of another type: left alone (the second with a WARNING).
CREATE TABLE ae_lookup (code text PRIMARY KEY, label text);
CREATE TABLE ae_texty (id int, tenant_id text);
SELECT relid::regclass FROM tenant.tables WHERE relid IN ('ae_lookup'::regclass, 'ae_texty'::regclass);
SELECT "check", object, status FROM tenant_check() WHERE object = 'public.ae_texty';
-- A tenant_id added later: not enabled (its rows have no tenant yet), a WARNING says what to do.
ALTER TABLE ae_lookup ADD COLUMN tenant_id uuid;
ALTER TABLE ae_lookup DROP COLUMN tenant_id;
DROP TABLE ae_texty;
-- CREATE TABLE AS and SELECT INTO; LIKE copies a tenant_id column.
CREATE TABLE ae_ctas AS SELECT gen_random_uuid() AS id, NULL::uuid AS tenant_id WHERE false;
SELECT gen_random_uuid() AS id, NULL::uuid AS tenant_id INTO ae_into WHERE false;
CREATE TABLE ae_like (LIKE ae_projects INCLUDING DEFAULTS);
SELECT relid::regclass FROM tenant.tables WHERE relid IN ('ae_ctas'::regclass, 'ae_into'::regclass, 'ae_like'::regclass) ORDER BY 1;
-- A table it cannot make tenant-scoped fails the statement, which leaves nothing.
CREATE TABLE ae_nulls AS SELECT NULL::uuid AS tenant_id;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT to_regclass('ae_nulls') AS left_behind;
-- Rolled back with its transaction.
BEGIN;
CREATE TABLE ae_rolled (tenant_id uuid);
ROLLBACK;
SELECT count(*) AS registry_rows_of_dropped FROM tenant.tables WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = relid);
-- A temporary table is the session's own: left alone.
CREATE TEMP TABLE ae_temp (tenant_id uuid);
SELECT count(*) AS temp_registered FROM tenant.tables WHERE relid = 'ae_temp'::regclass;
-- A partitioned table and its partitions.
CREATE TABLE ae_events (tenant_id uuid, at date, body text) PARTITION BY RANGE (at);
CREATE TABLE ae_events_2026 PARTITION OF ae_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT relid::regclass, track_usage FROM tenant.tables WHERE relid::regclass::text LIKE 'ae_events%' ORDER BY 1;
RESET ROLE;

-- Only the listed schemas (named as search_path names them).
CREATE SCHEMA "AeApp" AUTHORIZATION migrator;
CREATE SCHEMA ae_other AUTHORIZATION migrator;
SET ROLE migrator;
CREATE TABLE "AeApp".widgets (tenant_id uuid, n int);
CREATE TABLE ae_other.widgets (tenant_id uuid, n int);
SELECT count(*) AS registered_outside_public FROM tenant.tables t JOIN pg_class c ON c.oid = t.relid
 WHERE c.relnamespace IN ('"AeApp"'::regnamespace, 'ae_other'::regnamespace);
RESET ROLE;
SET pg_tenant.auto_enable_schemas = 'public, "AeApp", ae_other, AE_BUNDLE';
SET ROLE migrator;
CREATE TABLE "AeApp".gadgets (tenant_id uuid, n int);
CREATE TABLE ae_other.gadgets (tenant_id uuid, n int);
-- CREATE SCHEMA's own elements, a partition of a tenant-scoped parent among them.
RESET ROLE;
CREATE SCHEMA ae_bundle AUTHORIZATION migrator
    CREATE TABLE things (tenant_id uuid, n int)
    CREATE TABLE plain (n int);
SET pg_tenant.auto_enable = off;
CREATE SCHEMA ae_parts AUTHORIZATION migrator
    CREATE TABLE ae_events_2027 PARTITION OF public.ae_events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT c.relnamespace::regnamespace AS schema, c.relname, c.relowner::regrole AS owner
  FROM tenant.tables t JOIN pg_class c ON c.oid = t.relid
 WHERE c.relnamespace IN ('"AeApp"'::regnamespace, 'ae_other'::regnamespace, 'ae_bundle'::regnamespace, 'ae_parts'::regnamespace)
 ORDER BY 1, 2;
-- Inheritance children of a tenant-scoped table, created or attached, with or
-- without auto_enable: scoped too (usage counted on the parent).
SET ROLE migrator;
CREATE TABLE ae_projects_old () INHERITS (ae_projects);
CREATE TABLE ae_loose (id uuid NOT NULL, tenant_id uuid NOT NULL, name text);
ALTER TABLE ae_loose INHERIT ae_projects;
SELECT relid::regclass, track_usage FROM tenant.tables WHERE relid IN ('ae_projects_old'::regclass, 'ae_loose'::regclass) ORDER BY 1;
RESET ROLE;
SET pg_tenant.auto_enable = on;
-- A list that does not parse is refused when it is set.
SET pg_tenant.auto_enable_schemas = '"unterminated';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SHOW pg_tenant.auto_enable_schemas;
RESET pg_tenant.auto_enable_schemas;
-- pg_dump's scripts run with row_security = off (and check_function_bodies =
-- off) and bring their own policies: nothing is said. A lingering
-- row_security = off alone gets a WARNING.
SET row_security = off;
SET check_function_bodies = off;
CREATE TABLE ae_restored (tenant_id uuid);
RESET check_function_bodies;
CREATE TABLE ae_lingering (tenant_id uuid);
SELECT count(*) AS restored_registered FROM tenant.tables WHERE relid IN ('ae_restored'::regclass, 'ae_lingering'::regclass);
RESET row_security;
DROP TABLE ae_restored, ae_lingering;

-- The app role sees only its tenant's rows of a table it never heard of.
SET ROLE app_user;
BEGIN;
SELECT act_as('acme-corp') IS NOT NULL AS acting;
INSERT INTO ae_projects (name) VALUES ('acme plan');
SELECT act_as('globex') IS NOT NULL AS acting;
SELECT count(*) AS globex_sees FROM ae_projects;
ROLLBACK;
RESET ROLE;

DROP SCHEMA "AeApp", ae_other, ae_bundle, ae_parts CASCADE;
DROP TABLE ae_projects_old, ae_loose, ae_projects, ae_lookup, ae_ctas, ae_into, ae_like, ae_events;
SELECT count(*) AS registry_rows_left FROM tenant.tables WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = relid);
RESET pg_tenant.auto_enable;
