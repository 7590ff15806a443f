-- Attacks that once worked, kept as regression tests for their whole class:
-- slugs that read as another tenant's id, user code run with the registry
-- owner's rights, pg_tenant's code in parallel workers, trigger functions
-- called directly.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
CREATE ROLE ops LOGIN;
GRANT tenant_admin TO ops;

-- 1. A slug that spells a tenant id, in any spelling Postgres reads as a
--    uuid, is refused; a name that would derive one gets a slug that cannot.
SET ROLE ops;
SELECT tenant_create('Sign-up', slug => 'aaaaaaaa000040008000000000000001');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_create('Sign-up', slug => 'aaaaaaaa-0000-4000-8000-000000000001');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_create('Sign-up', slug => 'aaaa-aaaa-0000-4000-8000-0000-0000-0001');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_create('AAAAAAAA 0000 4000 8000 000000000001') AS derived \gset
SELECT slug FROM tenant.tenants WHERE id = :'derived';
SELECT tenant_purge(:'derived', force => true) IS NOT NULL AS purged;
-- Nor does a uniqueness suffix: "<31 hex digits>-2" would read as an id.
SELECT tenant_create('abcdefabcdefabcdefabcdefabcdefa') AS first_hex \gset
SELECT tenant_create('abcdefabcdefabcdefabcdefabcdefa') AS second_hex \gset
SELECT slug FROM tenant.tenants WHERE id IN (:'first_hex', :'second_hex') ORDER BY slug;
SELECT count(*) > 0 AS purged FROM tenant_purge(:'first_hex', force => true);
SELECT count(*) > 0 AS purged FROM tenant_purge(:'second_hex', force => true);
-- A reference in Postgres' other uuid spelling names the tenant id.
BEGIN;
SELECT tenant_set('aaaa-aaaa-0000-4000-8000-0000-0000-0001') AS acme;
ROLLBACK;
RESET ROLE;
-- Not even a superuser's direct insert can store such a slug.
\set VERBOSITY terse
INSERT INTO tenant.tenants (slug, name) VALUES ('bbbbbbbb000040008000000000000002', 'Sneaky');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- 2. User code never runs with the registry owner's rights.
-- A table owner's BEFORE DELETE trigger records who it runs as. When an
-- operator who is not a superuser purges a tenant, it runs as the table's
-- owner: not as the registry owner (a superuser), not as the operator.
SET ROLE migrator;
CREATE TABLE trap_log (ran_as name, was_superuser boolean);
CREATE TABLE trapped (id int, tenant_id uuid NOT NULL);
SELECT tenant_enable('trapped') IS NOT NULL AS enabled;
CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.trap_log SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
    RETURN OLD;
END $$;
CREATE TRIGGER trap BEFORE DELETE ON trapped FOR EACH ROW EXECUTE FUNCTION trap();
SELECT tenant_create('Trap Target', 'trap-target') IS NOT NULL AS created;
BEGIN;
SELECT tenant_set('trap-target') IS NOT NULL AS set;
INSERT INTO trapped (id) VALUES (1), (2);
COMMIT;
GRANT SELECT ON trap_log TO ops;
RESET ROLE;
SET ROLE ops;
SELECT relation, rows_deleted FROM tenant_purge('trap-target', force => true) WHERE rows_deleted > 0;
SELECT ran_as, was_superuser, count(*) FROM trap_log GROUP BY 1, 2;
RESET ROLE;

-- A trigger that changes search_path (a plain SET) cannot make pg_tenant's
-- next statements, run as the registry owner, resolve its own operator:
-- settings changed while a table's owner acts are restored afterwards, and
-- the session's search_path is as it was.
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO migrator', current_database()); END $$;
SET ROLE migrator;
CREATE SCHEMA evil;
CREATE TABLE evil.spy_log (ran_as name, was_superuser boolean);
GRANT INSERT ON evil.spy_log TO PUBLIC;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.spy(a uuid, b uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.spy_log SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
    RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.spy);
CREATE FUNCTION evil.hijack() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SET search_path = evil, pg_catalog, public;
    RETURN OLD;
END $$;
CREATE TRIGGER hijack BEFORE DELETE ON trapped FOR EACH ROW EXECUTE FUNCTION evil.hijack();
SELECT tenant_create('Hijack Target', 'hijack-target') IS NOT NULL AS created;
BEGIN;
SELECT tenant_set('hijack-target') IS NOT NULL AS set;
INSERT INTO trapped (id) VALUES (7);
COMMIT;
RESET ROLE;
SET ROLE ops;
SHOW search_path;
SELECT relation, rows_deleted FROM tenant_purge('hijack-target', force => true) WHERE rows_deleted > 0;
SHOW search_path;
RESET ROLE;
SELECT ran_as, was_superuser, count(*) FROM evil.spy_log GROUP BY 1, 2;
SET ROLE migrator;
DROP TRIGGER hijack ON trapped;
RESET ROLE;

-- Internal entry points take tables only (42809): a view's own functions
-- would otherwise run, and be scanned later, with the registry owner's rights.
SET ROLE migrator;
CREATE VIEW trap_view AS SELECT id, tenant_id FROM trapped;
SELECT _tenant_register_table('trap_view', false, false);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT _tenant_usage_start('trap_view');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_enable('trap_view');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE SEQUENCE trap_seq;
SELECT _tenant_register_table('trap_seq', false, false);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- A view registered some other way (a superuser's direct insert, or a
-- release before this check): reconciliation reads it as the view's owner.
CREATE FUNCTION trap_seen() RETURNS boolean LANGUAGE sql AS
    $$ INSERT INTO public.trap_log SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user RETURNING true $$;
GRANT EXECUTE ON FUNCTION trap_seen() TO migrator;
ALTER FUNCTION trap_seen() OWNER TO migrator;
SET ROLE migrator;
TRUNCATE trap_log;
CREATE OR REPLACE VIEW trap_view AS SELECT id, tenant_id FROM trapped WHERE trap_seen();
BEGIN;
SELECT tenant_set('acme-corp') IS NOT NULL AS set;
INSERT INTO trapped (id) VALUES (3);
COMMIT;
RESET ROLE;
INSERT INTO tenant.tables (relid, track_usage) VALUES ('trap_view', true);
SET ROLE ops;
SELECT counter, table_name, recorded, actual FROM tenant_usage_reconcile('acme-corp')
 WHERE table_name = 'public.trap_view' ORDER BY counter;
SELECT ran_as, was_superuser, count(*) > 0 AS ran FROM trap_log GROUP BY 1, 2;
RESET ROLE;
SELECT _tenant_unregister_table('trap_view') AS unregistered;
SET ROLE migrator;
DROP VIEW trap_view;
SELECT tenant_disable('trapped') IS NOT NULL AS disabled;
DROP TABLE trapped, trap_log;
DROP SEQUENCE trap_seq;
DROP SCHEMA evil CASCADE;
DROP FUNCTION trap(), trap_seen();
RESET ROLE;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM migrator', current_database()); END $$;
-- Nothing of the above is left in acme-corp's counters.
SELECT count(*) AS corrections FROM tenant_usage_reconcile('acme-corp');

-- 4. No pg_tenant function is parallel safe: a parallel worker, which may
-- load the library after the leader's settings were copied to it, never runs
-- pg_tenant's code. Parallel plans still scan tenant-scoped tables in
-- workers: the tenant is evaluated once, in the leader (the InitPlan).
SELECT p.proname FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_tenant')
   AND p.proparallel = 's';
SET ROLE ops;
SELECT tenant_create('Parallel Co', 'parallel-co', owner => '77777777-7777-4777-8777-777777777777') IS NOT NULL AS created;
SELECT tenant_member_add('parallel-co', '88888888-8888-4888-8888-888888888888', 'member');
RESET ROLE;
-- A new session whose first use of pg_tenant is under forced parallel mode.
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT set_config(name, 'on', false) AS forced FROM pg_settings
 WHERE name IN ('force_parallel_mode', 'debug_parallel_query');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
BEGIN;
SELECT act_as('parallel-co');
SELECT set_config('app.current_user_id', '77777777-7777-4777-8777-777777777777', true) IS NOT NULL AS user_set;
SELECT tenant_user_role('parallel-co', '77777777-7777-4777-8777-777777777777') AS role;
SELECT count(*) AS members FROM tenant_members('parallel-co');
SELECT tenant_has_role('owner') AS is_owner;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tenant.members;
SELECT count(*) AS member_rows FROM tenant.members;
COMMIT;
-- A user's function that calls pg_tenant's context from a parallel worker
-- (marked PARALLEL SAFE by mistake) is refused, not run without a tenant.
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
CREATE FUNCTION my_tenant() RETURNS uuid LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$ BEGIN RETURN current_tenant_id(); END $$;
CREATE FUNCTION my_tenant_restricted() RETURNS uuid LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
    AS $$ BEGIN RETURN current_tenant_id(); END $$;
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT set_config(name, 'on', false) AS forced FROM pg_settings
 WHERE name IN ('force_parallel_mode', 'debug_parallel_query');
BEGIN;
SELECT act_as('parallel-co');
SELECT my_tenant();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- The library loaded during a parallel operation (the leader, in parallel
-- mode, runs the restricted function): the context set before it loaded
-- cannot be taken over, so reading it fails for the rest of the transaction.
\c - app_user
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT set_config(name, 'on', false) AS forced FROM pg_settings
 WHERE name IN ('force_parallel_mode', 'debug_parallel_query');
BEGIN;
SELECT act_as('parallel-co');
SELECT my_tenant_restricted();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT act_as('parallel-co');
SELECT my_tenant_restricted() IS NOT NULL AS seen_in_the_next_transaction;
ROLLBACK;
\c - postgres
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
DROP FUNCTION my_tenant(), my_tenant_restricted();

-- 6. pg_tenant's trigger functions called directly: 39P01, not an internal error.
SELECT tenant_set_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_count_usage();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT _tenant_registry_changed();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP ROLE ops;
