-- tenant_check learns today's leaks: each new check on a clean database, then
-- broken and caught (the leak itself shown where it can be), each breakage
-- rolled back after; one per_row_function finding per policy and function;
-- accepted findings and the JSON report for CI.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
CREATE DATABASE pg_tenant_hygiene;
\c pg_tenant_hygiene
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
CREATE EXTENSION pg_tenant;
GRANT CREATE ON SCHEMA public TO migrator;
SELECT tenant_create('Acme Corp', 'acme') IS NOT NULL AS acme, tenant_create('Globex', 'globex') IS NOT NULL AS globex;
SET ROLE migrator;
CREATE TABLE notes (
    id        uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    body      text,
    n         int,
    PRIMARY KEY (tenant_id, id)
);
SELECT tenant_enable('notes') IS NOT NULL AS enabled;
GRANT SELECT, INSERT ON notes TO app_user;
BEGIN;
SELECT tenant_set('acme') IS NOT NULL AS acme;
INSERT INTO notes (body, n) SELECT 'acme roadmap', 1 FROM generate_series(1, 30);
SELECT tenant_set('globex') IS NOT NULL AS globex;
INSERT INTO notes (body, n) SELECT 'globex merger', 2 FROM generate_series(1, 30);
COMMIT;
RESET ROLE;

-- The new checks on a clean database. job (setup) is a LOGIN member of tenant_bypass.
SELECT "check", object, status FROM tenant_check()
 WHERE "check" IN ('leakproof_function', 'bypass_member', 'default_privileges', 'casting_default',
                   'server_version', 'extended_statistics', 'per_row_function')
 ORDER BY 1, 2;
SELECT detail, fix FROM tenant_check() WHERE "check" = 'bypass_member';

-- 13. A function marked LEAKPROOF may see rows before the policies filter them.
BEGIN;
CREATE FUNCTION chatty_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE LEAKPROOF
    AS $$ BEGIN RAISE NOTICE 'compared %', a; RETURN a = b; END $$;
SELECT object, status, detail, fix FROM tenant_check() WHERE "check" = 'leakproof_function' AND status <> 'ok';
ROLLBACK;

-- 14. LOGIN roles in tenant_bypass, directly or through another role.
BEGIN;
CREATE ROLE hygiene_jobs NOLOGIN;
GRANT tenant_bypass TO hygiene_jobs;
CREATE ROLE hygiene_worker LOGIN IN ROLE hygiene_jobs;
CREATE ROLE hygiene_web LOGIN IN ROLE tenant_bypass;
SELECT object, status, fix FROM tenant_check() WHERE "check" = 'bypass_member' ORDER BY 1;
-- What it means: one set_config and the login role reads every tenant.
GRANT SELECT ON notes TO hygiene_web;
SET ROLE hygiene_web;
SELECT count(*) AS rows_without_bypass FROM notes;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass;
SELECT set_config('app.bypass_reason', 'regression test', true) IS NOT NULL AS reason_given;
SELECT count(*) AS every_tenants_rows FROM notes;
RESET ROLE;
ROLLBACK;

-- 15. Default privileges expose a new table before tenant_enable runs.
BEGIN;
ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO app_user;
ALTER DEFAULT PRIVILEGES FOR ROLE migrator GRANT TRIGGER ON TABLES TO job;
SELECT object, status, detail, fix FROM tenant_check() WHERE "check" = 'default_privileges' ORDER BY 1;
SET ROLE migrator;
CREATE TABLE later (tenant_id uuid, body text);
INSERT INTO later VALUES ((SELECT id FROM tenant.tenants WHERE slug = 'acme')), ((SELECT id FROM tenant.tenants WHERE slug = 'globex'));
SET ROLE app_user;
SELECT count(*) AS app_user_reads_every_tenant FROM later;
RESET ROLE;
ROLLBACK;

-- TRIGGER granted on a tenant-scoped table: the grantee's trigger sees every writer's rows.
BEGIN;
GRANT TRIGGER ON notes TO app_user;
SELECT object, status, detail, fix FROM tenant_check() WHERE "check" = 'risky_grant' AND status <> 'ok';
ROLLBACK;

-- 16. A default that casts the context turns pg_tenant's PT001 into 22P02.
BEGIN;
SET ROLE migrator;
CREATE TABLE bt_projects (
    id        uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    name      text,
    PRIMARY KEY (tenant_id, id)
);
SELECT tenant_enable('bt_projects') IS NOT NULL AS enabled;
-- Added after tenant_enable, which drops such a default (adopt.sql).
ALTER TABLE bt_projects ALTER COLUMN tenant_id SET DEFAULT (current_setting('app.current_tenant', true))::uuid;
GRANT SELECT, INSERT ON bt_projects TO app_user;
RESET ROLE;
SELECT object, status, detail, fix FROM tenant_check() WHERE "check" = 'casting_default' AND status <> 'ok';
SET ROLE app_user;
SAVEPOINT s;
INSERT INTO bt_projects (name) VALUES ('no tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
RESET ROLE;
DO $$ BEGIN EXECUTE (SELECT fix FROM tenant_check() WHERE "check" = 'casting_default' AND status <> 'ok'); END $$;
SET ROLE app_user;
SAVEPOINT s;
INSERT INTO bt_projects (name) VALUES ('no tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
RESET ROLE;
SELECT object, status FROM tenant_check() WHERE "check" = 'casting_default';
ROLLBACK;

-- 18. Extended statistics hold every tenant's most common values; the views
-- hide them from every session row security applies to (the owner too,
-- under FORCE), before the fix of CVE-2024-4317 as after it.
CREATE STATISTICS notes_body_n (mcv) ON body, n FROM notes;
ANALYZE notes;
SELECT object, status FROM tenant_check() WHERE "check" = 'extended_statistics';
SET ROLE migrator;
SELECT count(*) AS stats_rows_the_owner_sees FROM pg_stats_ext WHERE tablename = 'notes';
RESET ROLE;
SELECT count(*) AS stats_rows_a_superuser_sees FROM pg_stats_ext WHERE tablename = 'notes';
-- A database made before the fix (or where its script never ran): its views
-- lack the owner test; tenant_check warns with the script to run, and the
-- tenant-scoped table's statistics stay hidden by its row security.
BEGIN;
DO $$
DECLARE v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['pg_stats_ext', 'pg_stats_ext_exprs'] LOOP
        EXECUTE format('CREATE OR REPLACE VIEW pg_catalog.%I WITH (security_barrier) AS %s', v,
            replace(pg_get_viewdef(('pg_catalog.' || v)::regclass), 'pg_has_role(c.relowner, ''USAGE''::text)', 'true'));
    END LOOP;
END $$;
SELECT object, status, detail, fix FROM tenant_check() WHERE "check" = 'extended_statistics' ORDER BY 2, 1;
GRANT SELECT ON notes TO app_user;
SET ROLE app_user;
SELECT count(*) AS stats_rows_app_user_sees FROM pg_stats_ext WHERE tablename = 'notes';
RESET ROLE;
ROLLBACK;
DROP STATISTICS notes_body_n;

-- 5 again: one finding per policy and function, however many clauses and
-- calls; its fix wraps them all and leaves nothing to report.
BEGIN;
CREATE POLICY by_setting ON notes AS RESTRICTIVE
    USING (tenant_id = current_setting('app.current_tenant')::uuid AND current_setting('app.current_user_id', true) IS NOT NULL)
    WITH CHECK (tenant_id = current_setting('app.current_tenant')::uuid);
SELECT object, status, detail, fix FROM tenant_check() WHERE "check" = 'per_row_function' AND status <> 'ok';
DO $$ BEGIN EXECUTE (SELECT fix FROM tenant_check() WHERE "check" = 'per_row_function' AND status <> 'ok'); END $$;
SELECT pg_get_expr(polqual, polrelid) AS using, pg_get_expr(polwithcheck, polrelid) AS with_check
  FROM pg_policy WHERE polname = 'by_setting';
SELECT object, status FROM tenant_check() WHERE "check" = 'per_row_function';
ROLLBACK;

-- 19. What a unique key, a foreign key or a materialized view tells another
-- tenant, each shown and then found by tenant_check.
BEGIN;
SET LOCAL ROLE migrator;
-- A column an index only INCLUDEs is not part of the key: the e-mail is
-- unique across tenants, and a duplicate tells acme that globex has it.
CREATE TABLE people (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL, email text NOT NULL);
CREATE UNIQUE INDEX people_email_key ON people (email) INCLUDE (tenant_id);
SELECT tenant_enable('people') IS NOT NULL AS enabled;
GRANT SELECT, INSERT ON people TO app_user;
-- A table that is not tenant-scoped references one: an insert probes every
-- tenant's keys.
CREATE TABLE shared_refs (person uuid REFERENCES people (id));
GRANT SELECT, INSERT ON shared_refs TO app_user;
RESET ROLE;
SELECT tenant_set('globex') IS NOT NULL AS globex;
SET LOCAL ROLE app_user;
INSERT INTO people (id, email) VALUES ('dddddddd-0000-4000-8000-000000000004', 'ceo@globex.example');
SELECT tenant_set('acme') IS NOT NULL AS acme;
SAVEPOINT probe;
INSERT INTO people (email) VALUES ('ceo@globex.example');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO probe;
INSERT INTO shared_refs VALUES ('dddddddd-0000-4000-8000-000000000004');
SELECT count(*) AS people_acme_sees FROM people;
RESET ROLE;
-- A materialized view with a tenant_id column holds what its owner read.
CREATE MATERIALIZED VIEW notes_report AS SELECT tenant_id, count(*) AS n FROM notes GROUP BY 1;
GRANT SELECT ON notes_report TO app_user;
SET LOCAL ROLE app_user;
SELECT count(*) AS tenants_in_the_report FROM notes_report;
RESET ROLE;
SELECT "check", object, status, detail, fix FROM tenant_check()
 WHERE "check" IN ('unique_without_tenant', 'foreign_key_without_tenant', 'forgotten_table')
   AND status <> 'ok' AND (object LIKE '%people%' OR object LIKE '%shared_refs%' OR object LIKE '%notes_report%')
 ORDER BY 1, 2;
ROLLBACK;

-- 20. PUBLIC may create temporary objects (Postgres' default): behind a
-- transaction pooler a temporary view named like a tenant-scoped table
-- shadows it for the connection's later clients. Warned; its fix clears it.
SELECT object, status, fix FROM tenant_check() WHERE "check" = 'temporary_objects';
BEGIN;
REVOKE TEMPORARY ON DATABASE pg_tenant_hygiene FROM PUBLIC;
SELECT object, status, detail FROM tenant_check() WHERE "check" = 'temporary_objects';
ROLLBACK;

-- Accepted findings: tenant_assert_check fails on new ones only.
CREATE ROLE hygiene_ops NOLOGIN IN ROLE tenant_admin;
BEGIN;
GRANT TRUNCATE ON notes TO app_user;
SELECT tenant_assert_check();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Operators only; the finding must be reported now; a reason is required.
SET ROLE app_user;
SELECT tenant_check_accept('risky_grant', 'public.notes TRUNCATE to app_user', 'nightly reset');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE hygiene_ops;
SELECT tenant_check_accept('risky_grant', 'public.notes TRUNCATE to nobody', 'typo');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_check_accept('risky_grant', 'public.notes TRUNCATE to app_user', '   ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_check_accept(NULL, 'public.notes TRUNCATE to app_user', 'why');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_check_accept('login_role', 'migrator', 'migrator runs migrations only; no application connects as it');
SELECT tenant_check_accept('risky_grant', 'public.notes TRUNCATE to app_user', 'the nightly reset job truncates as app_user (OPS-12)');
SELECT tenant_assert_check();
SELECT "check", object, status, accepted FROM tenant_check() WHERE accepted IS NOT NULL ORDER BY 1;
SELECT check_name, object, reason, accepted_by FROM tenant.check_acceptances ORDER BY 1;
-- The JSON report.
SELECT jsonb_pretty(j - 'findings' - 'checked_at' - 'server_version' - 'database') AS report,
       j ? 'checked_at' AND j ? 'server_version' AS has_server,
       j ->> 'database' AS database
  FROM tenant_check_json() j;
SELECT jsonb_pretty(f - 'detail' #- '{accepted,at}') AS finding, f #>> '{accepted,at}' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$' AS accepted_at
  FROM tenant_check_json() j, jsonb_array_elements(j -> 'findings') f
 WHERE f ->> 'check' = 'risky_grant' AND f ->> 'status' = 'fail';
SELECT jsonb_array_length(j -> 'findings') = (SELECT count(*) FROM tenant_check()) AS one_element_per_row
  FROM tenant_check_json() j;
-- A finding that changes (another table for migrator to own) is a new one.
RESET ROLE;
SAVEPOINT changed;
SET ROLE migrator;
CREATE TABLE more_notes (tenant_id uuid NOT NULL);
SELECT tenant_enable('more_notes') IS NOT NULL AS enabled;
SET ROLE hygiene_ops;
SELECT "check", object, status, accepted IS NOT NULL AS accepted, regexp_replace(detail, ' at [0-9:TZ-]+ ', ' at <when> ') AS detail
  FROM tenant_check() WHERE "check" IN ('login_role', 'check_acceptance') AND status <> 'ok' ORDER BY 1, 2;
RESET ROLE;
ROLLBACK TO changed;
-- A new failure still fails, and is the only one listed.
RESET ROLE;
GRANT TRUNCATE ON notes TO job;
SET ROLE hygiene_ops;
SELECT tenant_assert_check();
SELECT j -> 'passed' AS passed, j #> '{summary,new_failures}' AS new_failures FROM tenant_check_json() j;
RESET ROLE;
-- Fixed: the acceptance is reported until it is removed.
REVOKE TRUNCATE ON notes FROM app_user, job;
SET ROLE hygiene_ops;
SELECT "check", object, status, regexp_replace(detail, ' at [0-9:TZ-]+ ', ' at <when> ') AS detail, fix
  FROM tenant_check() WHERE "check" = 'check_acceptance' ORDER BY 2;
SELECT tenant_check_unaccept('risky_grant', 'public.notes TRUNCATE to app_user') AS removed,
       tenant_check_unaccept('risky_grant', 'public.notes TRUNCATE to app_user') AS removed_again;
SELECT tenant_check_unaccept('login_role', 'migrator') AS removed;
SELECT count(*) AS acceptances_left FROM tenant.check_acceptances;
RESET ROLE;
-- Application roles cannot read or write acceptances.
SET ROLE app_user;
SELECT count(*) FROM tenant.check_acceptances;
INSERT INTO tenant.check_acceptances (check_name, object, reason) VALUES ('risky_grant', 'x', 'y');
RESET ROLE;
ROLLBACK;
DROP ROLE hygiene_ops;

\c postgres
DROP DATABASE pg_tenant_hygiene;
