-- Recorded break-glass access: every transaction in which a member of
-- tenant_bypass uses the bypass leaves a row in tenant.bypass_log (role,
-- time, reason, tables touched), written in a transaction of its own before
-- the bypass opens anything, so it stays when the transaction rolls back. A
-- bypass without a reason, or one that cannot be recorded, is refused.
-- (This cluster does not preload pg_tenant: the first statement of each
-- session below loads the library, and is recorded all the same.)
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
CREATE TABLE bg_notes (tenant_id uuid NOT NULL, body text);
CREATE TABLE bg_files (tenant_id uuid NOT NULL, name text);
SELECT tenant_enable('bg_notes') IS NOT NULL AS enabled, tenant_enable('bg_files') IS NOT NULL AS enabled;
GRANT SELECT, INSERT ON bg_notes, bg_files TO job, app_user;
RESET ROLE;
GRANT CREATE ON SCHEMA public TO job;
INSERT INTO bg_notes SELECT id, 'note of ' || slug FROM tenant.tenants WHERE slug IN ('acme-corp', 'globex');
CREATE FUNCTION bg_log() RETURNS TABLE (db_role name, session_role name, app_user text, reason text, tables text[])
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT db_role, session_role, app_user, reason, tables FROM tenant.bypass_log ORDER BY logged_at $$;

\c - job
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
-- The first statement of the session uses the bypass and rolls back: it is
-- recorded, with the table it read.
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass,
       set_config('app.bypass_reason', 'ticket 101: customer asked for a report', true) AS reason;
SELECT count(*) AS every_tenants_notes FROM bg_notes;
SELECT count(*) AS again FROM bg_notes;
ROLLBACK;
-- Without a reason the bypass is refused, before it reads anything.
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass;
SELECT count(*) FROM bg_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_config('app.bypass_reason', '   ', true) AS blank_reason;
SELECT count(*) FROM bg_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- One record per transaction, another when it touches a table not listed
-- yet (here an empty one), with the acting user; writes too.
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass,
       set_config('app.bypass_reason', 'nightly export', true) AS reason,
       set_config('app.current_user_id', '77777777-7777-4777-8777-777777777777', true) AS acting_user;
SELECT count(*) AS notes FROM bg_notes;
SELECT count(*) AS files FROM bg_files;
INSERT INTO bg_files (tenant_id, name) SELECT tenant_id, 'copy of ' || body FROM bg_notes;
COMMIT;
-- A bypass switched on in the middle of a statement is recorded with the
-- statement's tables (noted when it started), before a row is read.
BEGIN;
SELECT set_config('app.bypass_reason', 'switched on late', true) AS reason;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass, (SELECT count(*) FROM bg_notes) AS notes;
ROLLBACK;
-- Two transactions sent in one query string are two records (statements
-- that print nothing: psql 14 shows only the last result of such a string).
BEGIN \; SET LOCAL app.bypass_rls = on \; SET LOCAL app.bypass_reason = 'first of two' \; CREATE TEMP TABLE bg_first ON COMMIT DROP AS SELECT * FROM bg_notes \; COMMIT \; BEGIN \; SET LOCAL app.bypass_rls = on \; SET LOCAL app.bypass_reason = 'second of two' \; CREATE TEMP TABLE bg_second ON COMMIT DROP AS SELECT * FROM bg_notes \; COMMIT;
-- A view job owns does not pass the bypass on to its readers.
CREATE VIEW bg_notes_view AS SELECT * FROM bg_notes;
GRANT SELECT ON bg_notes_view TO app_user;
-- Without the bypass nothing is recorded (and nothing is seen).
BEGIN;
SELECT count(*) AS without_bypass FROM bg_notes;
COMMIT;
-- job cannot read the log, nor change it.
SELECT count(*) FROM tenant.bypass_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO tenant.bypass_log (xact_start, backend_pid, db_role, session_role, reason, tables)
VALUES (now(), 1, 'job', 'job', 'forged', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
-- Asking is not enough: app_user is not in tenant_bypass; it sees nothing
-- and nothing is recorded.
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass,
       set_config('app.bypass_reason', 'I would like to see everything', true) AS reason;
SELECT count(*) AS app_user_sees FROM bg_notes;
SELECT count(*) AS app_user_sees_through_jobs_view FROM bg_notes_view;
COMMIT;
SELECT count(*) FROM tenant.bypass_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

\c - migrator
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
-- Operators read the records.
SELECT db_role, session_role, app_user, reason, tables FROM tenant.bypass_log ORDER BY logged_at;
SELECT count(DISTINCT (backend_pid, xact_start)) AS transactions, bool_and(logged_at >= xact_start) AS after_start
  FROM tenant.bypass_log;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
-- Nobody changes them, the owner included.
UPDATE tenant.bypass_log SET reason = 'nothing to see';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM tenant.bypass_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE tenant.bypass_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Not preloaded, the library loads during the first statement that calls
-- pg_tenant; nested in a DO block, that statement's tables cannot be
-- noted: the bypass is refused. The next statement works.
\c - job
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass, set_config('app.bypass_reason', 'first in a DO block', true) AS reason;
DO $$ BEGIN PERFORM count(*) FROM bg_notes; END $$;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DO $$ BEGIN PERFORM count(*) FROM bg_notes; END $$;
ROLLBACK;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT reason, tables FROM tenant.bypass_log ORDER BY logged_at DESC LIMIT 1;

-- A database that refuses writes cannot record: the bypass is refused.
SELECT current_database() AS db \gset
ALTER DATABASE :"db" SET default_transaction_read_only = on;
\c - job
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass,
       set_config('app.bypass_reason', 'during maintenance', true) AS reason;
SELECT count(*) FROM bg_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET default_transaction_read_only = off;
ALTER DATABASE :"db" RESET default_transaction_read_only;
SELECT count(*) AS records FROM bg_log();

-- A SECURITY DEFINER function owned by a member of tenant_bypass does not
-- hand the bypass to whoever calls it: both the role asking and the
-- session's own role must hold it.
\c - job
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT current_tenant_id() IS NULL AS library_loaded;
CREATE FUNCTION bg_job_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = public, pg_catalog AS $$ SELECT count(*) FROM bg_notes $$;
GRANT EXECUTE ON FUNCTION bg_job_count() TO app_user;
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass,
       set_config('app.bypass_reason', 'the job itself', true) AS reason;
SELECT bg_job_count() AS the_job_through_its_function;
ROLLBACK;
-- A reason set for the session (by an earlier client of a pooled
-- connection) does not stand for a later transaction's bypass: 25000.
SET app.bypass_reason = 'a reason an earlier client left';
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass;
SELECT count(*) FROM bg_notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET app.bypass_reason;
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT act_as('acme-corp');
SELECT set_config('app.bypass_rls', 'on', true) AS bypass,
       set_config('app.bypass_reason', 'borrowed', true) AS reason;
SELECT bg_job_count() AS app_user_through_jobs_function;
ROLLBACK;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT count(*) AS records FROM bg_log();
DROP FUNCTION bg_job_count();

DROP VIEW bg_notes_view;
REVOKE CREATE ON SCHEMA public FROM job;
DROP TABLE bg_notes, bg_files;
DROP FUNCTION bg_log();
