-- Least privilege for migrations: a table's owner that is not an operator
-- (no tenant_admin) makes its own table tenant-scoped, foreign key to
-- tenant.tenants included, and undoes it; nobody else may, on its table.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set VERBOSITY default
CREATE ROLE plain_migrator LOGIN;
GRANT CREATE ON SCHEMA public TO plain_migrator;
SELECT pg_has_role('plain_migrator', 'tenant_admin', 'MEMBER') AS is_operator,
       has_column_privilege('plain_migrator', 'tenant.tenants', 'id', 'REFERENCES') AS may_reference;
SET ROLE plain_migrator;
CREATE TABLE owned_notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid, body text);
GRANT SELECT, INSERT ON owned_notes TO app_user;
SELECT tenant_enable_sql('owned_notes') IS NOT NULL AS previewed;
SELECT tenant_enable('owned_notes') IS NOT NULL AS enabled;
SELECT conname, confrelid::regclass FROM pg_constraint WHERE conrelid = 'owned_notes'::regclass AND contype = 'f';
RESET ROLE;
SELECT relid::text, enabled_by FROM tenant.tables WHERE relid = 'owned_notes'::regclass;
-- It isolates as the application role.
SET ROLE app_user;
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO owned_notes (body) VALUES ('acme');
SELECT act_as('globex');
SELECT count(*) AS globex_sees FROM owned_notes;
ROLLBACK;
-- Not the owner: refused with one clear error, before anything is read.
SELECT tenant_enable('owned_notes');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_disable('owned_notes');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_enable_sql('owned_notes');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Still no operator: the lifecycle functions stay refused.
RESET ROLE;
SET ROLE plain_migrator;
SELECT tenant_suspend('acme-corp');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The owner undoes it.
SELECT tenant_disable('owned_notes') IS NOT NULL AS disabled;

-- A migration script: tenant_enable_sql prints what this database lacks
-- (nothing once the table is tenant-scoped); tenant_enable_script prints one
-- script that is correct wherever it runs. The same script, run on the table
-- in three states -- fresh, partly enabled, enabled -- leaves it the same.
SELECT tenant_enable_script('owned_notes', backfill_tenant => 'acme-corp') AS script \gset
\echo :script
-- Fresh: a new table as an older migration left it, with a row and no tenant.
DROP TABLE owned_notes;
CREATE TABLE owned_notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid, body text);
INSERT INTO owned_notes (body) VALUES ('from before');
:script
SELECT count(*) FILTER (WHERE tenant_id IS NULL) AS without_tenant FROM owned_notes;
RESET ROLE;
SET pg_tenant.ddl_guard = off;
DROP POLICY tenant_bypass ON owned_notes;
DROP TRIGGER tenant_set_id ON owned_notes;
RESET pg_tenant.ddl_guard;
SELECT "check", status FROM tenant_check() WHERE object = 'public.owned_notes' AND status <> 'ok' ORDER BY 1;
SET ROLE plain_migrator;
:script
SELECT tenant_enable_sql('owned_notes') AS already;
:script
SELECT tenant_enable_sql('owned_notes') AS still;
SELECT (SELECT count(*) FROM pg_policy WHERE polrelid = 'owned_notes'::regclass) AS policies,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'owned_notes'::regclass AND NOT tgisinternal) AS triggers;
SELECT tenant_disable('owned_notes') IS NOT NULL AS disabled;
DROP TABLE owned_notes;
RESET ROLE;
-- An operator (here the superuser) enabling another role's table: the
-- backfill UPDATE and the row scans run as the table's owner, so the table's
-- triggers get only the owner's rights.
SET ROLE plain_migrator;
CREATE TABLE owned_jobs (id int PRIMARY KEY, tenant_id uuid, ran_as text);
INSERT INTO owned_jobs (id) VALUES (1), (2);
CREATE FUNCTION owned_jobs_who() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.ran_as := current_user; RETURN NEW; END $$;
CREATE TRIGGER owned_jobs_who BEFORE UPDATE ON owned_jobs FOR EACH ROW EXECUTE FUNCTION owned_jobs_who();
RESET ROLE;
SELECT tenant_enable('owned_jobs', backfill_tenant => 'acme-corp') IS NOT NULL AS enabled;
SELECT DISTINCT ran_as FROM owned_jobs;
SELECT tenant_disable('owned_jobs') IS NOT NULL AS disabled;
DROP TABLE owned_jobs;
DROP FUNCTION owned_jobs_who();
-- Code of one table owner's running in an operator's session (its trigger
-- fired by tenant_purge, a SECURITY DEFINER function of its) cannot
-- unregister another role's table: the registration functions check the role
-- that calls them, not the session's.
SET ROLE plain_migrator;
CREATE FUNCTION plain_unregister(t regclass) RETURNS boolean LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT _tenant_unregister_table(t) $$;
RESET ROLE;
SELECT relowner::regrole AS projects_owner FROM pg_class WHERE oid = 'projects'::regclass;
SELECT plain_unregister('projects');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS still_registered FROM tenant.tables WHERE relid = 'projects'::regclass;
DROP FUNCTION plain_unregister(regclass);
REVOKE CREATE ON SCHEMA public FROM plain_migrator;
DROP ROLE plain_migrator;
