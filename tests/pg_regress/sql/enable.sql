-- tenant_enable, tenant_enable_sql: what they generate, idempotence, options and errors.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;

CREATE TABLE projects (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid,
    name      text NOT NULL,
    UNIQUE (tenant_id, name)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO app_user, job;

-- The SQL for review or for a migration file.
SELECT tenant_enable_sql('projects');

-- tenant_enable runs exactly that SQL, and returns it.
CREATE TEMP TABLE planned AS SELECT tenant_enable_sql('projects') AS sql;
SELECT tenant_enable('projects') = (SELECT sql FROM planned) AS ran_exactly_the_planned_sql;

-- Running it again changes nothing.
SELECT tenant_enable('projects');
SELECT tenant_enable_sql('projects');

-- What the table looks like now.
SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
 WHERE attrelid = 'projects'::regclass AND attname = 'tenant_id';
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'projects'::regclass;
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid = 'projects'::regclass AND contype = 'f';
SELECT polname, polcmd, polpermissive, polroles::regrole[],
       pg_get_expr(polqual, polrelid) AS using_expr,
       pg_get_expr(polwithcheck, polrelid) AS check_expr
  FROM pg_policy WHERE polrelid = 'projects'::regclass ORDER BY polname;
SELECT tgname, tgfoid::regprocedure, tgenabled FROM pg_trigger
 WHERE tgrelid = 'projects'::regclass AND NOT tgisinternal;
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid = 'projects'::regclass ORDER BY 1;
SELECT relid, column_added, index_created, enabled_by FROM tenant.tables;

-- An existing index led by tenant_id is reused (here the UNIQUE (tenant_id, name)
-- of a second table), and create_index => false creates none.
CREATE TABLE tasks (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, title text, UNIQUE (tenant_id, title));
SELECT tenant_enable_sql('tasks') LIKE '%CREATE INDEX%' AS would_create_index;
CREATE TABLE notes (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, body text);
SELECT tenant_enable_sql('notes', create_index => false) LIKE '%CREATE INDEX%' AS would_create_index;

-- A policy of the right name but the wrong shape is replaced, not trusted.
CREATE TABLE invoices (id bigint PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenant.tenants (id));
CREATE INDEX ON invoices (tenant_id);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoices USING (true);
SELECT tenant_enable_sql('invoices');

-- add_column: adds tenant_id; an empty table needs no backfill.
CREATE TABLE comments (id bigint PRIMARY KEY, body text);
SELECT tenant_enable('comments', add_column => true);
SELECT column_added, index_created FROM tenant.tables WHERE relid = 'comments'::regclass;

-- Existing rows need a backfill tenant (by id or slug); without one, nothing changes.
CREATE TABLE legacy (id bigint PRIMARY KEY, body text);
INSERT INTO legacy VALUES (1, 'old'), (2, 'older');
SELECT tenant_enable('legacy', add_column => true);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS tenant_id_columns FROM pg_attribute WHERE attrelid = 'legacy'::regclass AND attname = 'tenant_id';
SELECT tenant_enable('legacy', add_column => true, backfill_tenant => 'no-such-tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT regexp_replace(tenant_enable_sql('legacy', add_column => true, backfill_tenant => 'initech'),
                      '[0-9a-f-]{36}', '<initech id>', 'g');
SELECT tenant_enable('legacy', add_column => true, backfill_tenant => 'initech') IS NOT NULL AS enabled;
RESET ROLE;
SELECT l.id, t.slug FROM legacy l JOIN tenant.tenants t ON t.id = l.tenant_id ORDER BY l.id;
SET ROLE migrator;

-- Rows with a NULL tenant_id in an existing column: counted, and backfilled on request.
CREATE TABLE drafts (id bigint PRIMARY KEY, tenant_id uuid, body text);
INSERT INTO drafts VALUES (1, NULL, 'a'), (2, NULL, 'b');
SELECT tenant_enable('drafts');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_enable('drafts', backfill_tenant => 'globex') IS NOT NULL AS enabled;
RESET ROLE;
SELECT d.id, t.slug FROM drafts d JOIN tenant.tenants t ON t.id = d.tenant_id ORDER BY d.id;
SET ROLE migrator;

-- Atomic: a failure part-way leaves the table exactly as it was. Here NOT NULL
-- would succeed, but the foreign key fails on a tenant_id that names no tenant.
CREATE TABLE orphans (id bigint PRIMARY KEY, tenant_id uuid);
INSERT INTO orphans VALUES (1, '00000000-0000-4000-8000-000000000000');
SELECT tenant_enable('orphans');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT attnotnull AS not_null_was_kept FROM pg_attribute WHERE attrelid = 'orphans'::regclass AND attname = 'tenant_id';
SELECT relrowsecurity, (SELECT count(*) FROM pg_policy WHERE polrelid = 'orphans'::regclass) AS policies,
       (SELECT count(*) FROM tenant.tables WHERE relid = 'orphans'::regclass) AS registered
  FROM pg_class WHERE oid = 'orphans'::regclass;

-- Clear errors for bad input.
SELECT tenant_enable('no_such_table');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE plain (id bigint PRIMARY KEY);
SELECT tenant_enable('plain');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE wrong_type (id bigint PRIMARY KEY, tenant_id text);
SELECT tenant_enable('wrong_type');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE VIEW projects_view AS SELECT * FROM projects;
SELECT tenant_enable('projects_view');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_enable('tenant.tenants');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_enable(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Only the table's owner can enable it; application roles cannot call it at all.
RESET ROLE;
CREATE TABLE owned_by_postgres (id bigint PRIMARY KEY, tenant_id uuid NOT NULL);
SET ROLE migrator;
SELECT tenant_enable('owned_by_postgres');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT _tenant_register_table('owned_by_postgres', false, false);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ROLE app_user;
SELECT tenant_enable_sql('projects');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT _tenant_register_table('projects', false, false);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
