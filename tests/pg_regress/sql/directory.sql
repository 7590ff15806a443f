-- tenant.directory: the registry's tenants as Better Tenant's tenants table
-- shows them, read and written with the exact SQL Better Tenant 0.5.4 sends
-- through Drizzle (tenant.api, resolveTenant, runAs's loadTenant), here
-- through an alias view public.tenants as an app defines it.
\set SHOW_CONTEXT never
CREATE ROLE bt_resolver LOGIN;
GRANT tenant_directory TO bt_resolver;
-- Granted writes on the alias without being an operator: the trigger refuses.
CREATE ROLE bt_resolver_writes;
GRANT bt_resolver_writes TO bt_resolver;
-- Owned by the superuser (an operator would do): the alias reaches the
-- directory with its owner's grants. Reading for all, writing for operators.
CREATE VIEW public.tenants AS SELECT * FROM tenant.directory;
GRANT SELECT ON public.tenants TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON public.tenants TO tenant_admin, bt_resolver_writes;

-- An ordinary role sees its current tenant only, also in Better Tenant's
-- system scope (app.bypass_rls): what it sees of tenant.tenants today.
BEGIN;
SET LOCAL ROLE app_user;
SELECT count(*) AS without_tenant FROM tenants;
SELECT act_as('globex');
SELECT slug, name FROM tenants;
SELECT set_config('app.current_tenant', '', true) = '' AS cleared, set_config('app.bypass_rls', 'true', true) AS system_scope;
SELECT count(*) AS in_system_scope FROM tenants;
SELECT "id", "name", "slug" from "tenants" where "tenants"."slug" = 'acme-corp' limit 1;
ROLLBACK;
-- Nor can it lock its tenant's registry row (which would stall every write
-- naming that tenant): FOR UPDATE/SHARE need UPDATE, which only operators have.
BEGIN;
SET LOCAL ROLE app_user;
SELECT act_as('globex');
SAVEPOINT s;
SELECT slug FROM tenants FOR UPDATE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SAVEPOINT s;
SELECT slug FROM tenant.directory FOR SHARE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SAVEPOINT s;
INSERT INTO tenant.directory (name, slug) VALUES ('Direct', 'direct');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ROLLBACK;

-- A tenant_directory member resolves slugs in system scope (Better Tenant's
-- resolveTenant), and sees no tenant's data or registry columns beyond these.
SELECT count(*) AS not_deleted FROM tenant.tenants WHERE status <> 'deleted' \gset
BEGIN;
SET LOCAL ROLE bt_resolver;
SELECT count(*) AS outside_system_scope FROM tenants;
SELECT set_config('app.bypass_rls', 'true', true) AS system_scope;
SELECT "id", "name", "slug" from "tenants" where "tenants"."slug" = 'acme-corp' limit 1;
SELECT count(*) = :not_deleted AS lists_every_tenant_not_deleted FROM tenants;
SELECT slug FROM tenants WHERE slug IN ('acme-corp', 'globex', 'initech') ORDER BY slug;
SELECT count(*) AS registry_rows FROM tenant.tenants;
SAVEPOINT s;
insert into "tenants" ("id", "name", "slug", "created_at") values (default, 'Evil', 'evil', default) returning "id";
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SAVEPOINT s;
update "tenants" set "name" = 'Renamed' where "tenants"."slug" = 'globex' returning "slug";
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SAVEPOINT s;
delete from "tenants" where "tenants"."slug" = 'globex';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ROLLBACK;

-- A tenant_bypass member in system scope lists them too.
BEGIN;
SET LOCAL ROLE job;
SELECT set_config('app.bypass_rls', 'true', true) AS system_scope;
SELECT count(*) >= 3 AS lists_all FROM tenants;
ROLLBACK;

-- tenant.api as an operator: create (Drizzle sends DEFAULT for id and
-- created_at; Prisma and tenant-cli seed send their own id), list, get,
-- update (0 rows for an unknown id: "tenant not found"), count, delete (soft).
BEGIN;
SET LOCAL ROLE migrator;
SELECT set_config('app.bypass_rls', 'true', true) AS system_scope;
insert into "tenants" ("id", "name", "slug", "created_at") values (default, 'Umbrella', 'umbrella', default) returning "name", "slug", "created_at" IS NOT NULL AS has_created_at;
SELECT id = (SELECT id FROM tenant.tenants WHERE slug = 'umbrella') AS returned_the_registry_id
  FROM tenants WHERE slug = 'umbrella';
INSERT INTO tenants (id, name, slug) VALUES ('ffffffff-0000-4000-8000-000000000006'::uuid, 'Soylent', 'soylent') RETURNING id, name, slug;
SELECT slug, status FROM tenant.tenants WHERE slug IN ('umbrella', 'soylent') ORDER BY slug;
SELECT count(*) AS usage_rows FROM tenant.usage_totals WHERE tenant_id IN (SELECT id FROM tenant.tenants WHERE slug IN ('umbrella', 'soylent'));
select "id", "name", "slug", "created_at" IS NOT NULL AS has_created_at from "tenants" where "tenants"."id" = 'ffffffff-0000-4000-8000-000000000006' limit 1;
update "tenants" set "name" = 'Soylent Corp', "slug" = 'soylent-corp' where "tenants"."id" = 'ffffffff-0000-4000-8000-000000000006' returning "id", "name", "slug";
SELECT tenant_resolve(slug => 'soylent-corp') AS resolves_the_new_slug;
update "tenants" set "name" = 'Nobody' where "tenants"."id" = '00000000-0000-4000-8000-00000000dead' returning "id";
SAVEPOINT s;
update "tenants" set "slug" = 'Not A Slug' where "tenants"."slug" = 'umbrella';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SAVEPOINT s;
update "tenants" set "slug" = 'globex' where "tenants"."slug" = 'umbrella';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SAVEPOINT s;
update "tenants" set "id" = gen_random_uuid() where "tenants"."id" = 'ffffffff-0000-4000-8000-000000000006';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SAVEPOINT s;
insert into "tenants" ("id", "name", "slug", "created_at") values (default, 'Dup', 'globex', default);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
select count(*) AS before_delete from "tenants" \gset
delete from "tenants" where "tenants"."id" = 'ffffffff-0000-4000-8000-000000000006';
SELECT status FROM tenant.tenants WHERE id = 'ffffffff-0000-4000-8000-000000000006';
select :before_delete - count(*) AS fewer_after_delete from "tenants";
select "id" from "tenants" where "tenants"."id" = 'ffffffff-0000-4000-8000-000000000006' limit 1;
ROLLBACK;

-- A function of the caller's cannot see rows the view filters out: the view
-- is a security barrier.
CREATE FUNCTION leak_slug(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
$$ BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END $$;
BEGIN;
SET LOCAL ROLE app_user;
SELECT act_as('globex');
SELECT slug FROM tenants WHERE leak_slug(slug);
ROLLBACK;
DROP FUNCTION leak_slug(text);

-- A view or SECURITY DEFINER function an operator wrote (in a migration,
-- say) over the registry: Postgres applies the registry's policies as the
-- owner's, but the tenant_admin ones open every tenant only to an operator
-- asking itself. The reader sees its own tenant, as in the tables.
SET ROLE migrator;
CREATE VIEW op_tenants AS SELECT slug FROM tenant.tenants;
CREATE VIEW op_audit AS SELECT relation FROM tenant.audit_log;
CREATE FUNCTION op_member_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS $$ SELECT count(*) FROM tenant.tenants $$;
GRANT SELECT ON op_tenants, op_audit TO app_user;
GRANT EXECUTE ON FUNCTION op_member_count() TO app_user;
SELECT count(*) > 2 AS the_operator_itself_sees_all FROM op_tenants;
RESET ROLE;
BEGIN;
SET LOCAL ROLE app_user;
SELECT act_as('globex');
SELECT slug FROM op_tenants;
SELECT op_member_count() AS tenants_through_the_function;
ROLLBACK;
SET ROLE migrator;
DROP VIEW op_tenants, op_audit;
DROP FUNCTION op_member_count();
RESET ROLE;

DROP VIEW public.tenants;
DROP ROLE bt_resolver;
DROP ROLE bt_resolver_writes;
