-- Adoption: tenant_enable on tables that already carry Better Tenant's RLS
-- (what `tenant-cli migrate` 0.5.4 writes, verbatim below) or hand-written
-- tenant RLS replaces it, and says so in the SQL it returns.
\set SHOW_CONTEXT never
BEGIN;
SET LOCAL ROLE migrator;
-- The schema as Better Tenant's Drizzle helper declares it: tenant_id with
-- the casting default `tenantId` gives it.
CREATE TABLE adopt_projects (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL DEFAULT (current_setting('app.current_tenant', true))::uuid,
    name      text NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON adopt_projects TO app_user;
-- Better Tenant: trigger function for auto-populating tenant_id
CREATE OR REPLACE FUNCTION set_tenant_id()
RETURNS TRIGGER AS $$
BEGIN
  IF NEW.tenant_id IS NULL AND current_setting('app.current_tenant', true) IS NOT NULL THEN
    NEW.tenant_id := current_setting('app.current_tenant', true)::uuid;
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- Better Tenant: RLS for adopt_projects
ALTER TABLE "adopt_projects" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "adopt_projects" FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "rls_tenant_adopt_projects" ON "adopt_projects";
CREATE POLICY "rls_tenant_adopt_projects" ON "adopt_projects"
  FOR ALL
  USING (
    (tenant_id)::text = current_setting('app.current_tenant', true)
    OR current_setting('app.bypass_rls', true) = 'true'
  )
  WITH CHECK (
    (tenant_id)::text = current_setting('app.current_tenant', true)
    OR current_setting('app.bypass_rls', true) = 'true'
  );

DROP TRIGGER IF EXISTS set_tenant_id_trigger ON "adopt_projects";
CREATE TRIGGER set_tenant_id_trigger
  BEFORE INSERT ON "adopt_projects"
  FOR EACH ROW
  EXECUTE PROCEDURE set_tenant_id();
RESET ROLE;

-- Before: the application role reads every tenant after one set_config, and
-- a tenantless insert fails with 22P02 (the default casts '').
SET LOCAL ROLE app_user;
SELECT act_as('acme-corp');
INSERT INTO adopt_projects (name) VALUES ('acme roadmap');
SELECT act_as('globex');
INSERT INTO adopt_projects (name) VALUES ('globex roadmap');
SELECT set_config('app.current_tenant', '', true) = '' AS cleared;
SELECT set_config('app.bypass_rls', 'true', true) AS any_role_switches_the_bypass_on;
SELECT count(*) AS rows_seen_by_app_user FROM adopt_projects;
SELECT set_config('app.bypass_rls', '', true) = '' AS bypass_off;
SAVEPOINT s;
INSERT INTO adopt_projects (name) VALUES ('no tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
RESET ROLE;

-- tenant_enable_sql shows the adoption beforehand; tenant_enable runs it.
SET LOCAL ROLE migrator;
SELECT tenant_enable_sql('adopt_projects') AS planned \gset
\echo :planned
SELECT tenant_enable('adopt_projects') = :'planned' AS ran_what_it_showed;
RESET ROLE;
SELECT polname FROM pg_policy WHERE polrelid = 'adopt_projects'::regclass ORDER BY 1;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'adopt_projects'::regclass AND NOT tgisinternal ORDER BY 1;
SELECT pg_get_expr(adbin, adrelid) AS tenant_id_default FROM pg_attrdef
 WHERE adrelid = 'adopt_projects'::regclass AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'adopt_projects'::regclass AND attname = 'tenant_id');
SELECT proname AS kept_function FROM pg_proc WHERE proname = 'set_tenant_id';

-- After: the bypass is pg_tenant's (tenant_bypass members only), a tenantless
-- insert gets pg_tenant's error, and the rows stay where they were.
SET LOCAL ROLE app_user;
SELECT set_config('app.bypass_rls', 'true', true) AS tried;
SELECT count(*) AS rows_seen_by_app_user FROM adopt_projects;
SELECT set_config('app.bypass_rls', '', true) = '' AS bypass_off;
SAVEPOINT s;
INSERT INTO adopt_projects (name) VALUES ('no tenant');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT act_as('acme-corp');
SELECT name FROM adopt_projects ORDER BY name;
INSERT INTO adopt_projects (name) VALUES ('acme launch');
SELECT name FROM adopt_projects ORDER BY name;
RESET ROLE;
-- Clean: no failure (the warning is Better Tenant's primary key on id alone).
SELECT "check", status FROM tenant_check() WHERE object LIKE 'public.adopt_projects%' AND status <> 'ok';
SELECT count(*) AS failures FROM tenant_check() WHERE object LIKE 'public.adopt_projects%' AND status = 'fail';
SET LOCAL ROLE migrator;
SELECT tenant_enable('adopt_projects') AS second_call;
RESET ROLE;

-- Better Tenant's migration applied again on top (a re-run of `tenant-cli
-- migrate`): tenant_check reports the widening policy; tenant_enable replaces it again.
SET LOCAL ROLE migrator;
CREATE POLICY "rls_tenant_adopt_projects" ON "adopt_projects"
  FOR ALL
  USING ((tenant_id)::text = current_setting('app.current_tenant', true) OR current_setting('app.bypass_rls', true) = 'true')
  WITH CHECK ((tenant_id)::text = current_setting('app.current_tenant', true) OR current_setting('app.bypass_rls', true) = 'true');
CREATE TRIGGER set_tenant_id_trigger BEFORE INSERT ON "adopt_projects" FOR EACH ROW EXECUTE PROCEDURE set_tenant_id();
RESET ROLE;
SELECT "check", object, status FROM tenant_check() WHERE object LIKE 'public.adopt_projects%' AND status <> 'ok';
SET LOCAL ROLE migrator;
SELECT tenant_enable('adopt_projects');
RESET ROLE;
SELECT "check", status FROM tenant_check() WHERE object LIKE 'public.adopt_projects%' AND status <> 'ok';
ROLLBACK;

-- Hand-written tenant RLS: per-command policies on another setting name, a
-- restrictive policy and a policy unrelated to tenants. Only the permissive
-- tenant matches go: dropping a restrictive policy would widen access, and
-- a policy that does not read tenant_id is the application's.
BEGIN;
SET LOCAL ROLE migrator;
CREATE TABLE adopt_invoices (id int, tenant_id uuid NOT NULL, public boolean NOT NULL DEFAULT false, amount int);
ALTER TABLE adopt_invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY adopt_invoices_select ON adopt_invoices FOR SELECT USING (tenant_id = current_setting('app.tenant_id')::uuid);
CREATE POLICY adopt_invoices_insert ON adopt_invoices FOR INSERT WITH CHECK (tenant_id = current_setting('app.tenant_id')::uuid);
CREATE POLICY adopt_invoices_not_negative ON adopt_invoices AS RESTRICTIVE USING (amount >= 0 OR tenant_id = current_setting('app.tenant_id')::uuid);
CREATE POLICY adopt_invoices_public ON adopt_invoices FOR SELECT USING (public);
-- A policy whose name holds a line break: the comment tenant_enable writes
-- about it stays one line (the rest of the name must not become SQL).
CREATE POLICY "evil
SELECT 1/0" ON adopt_invoices FOR UPDATE USING (tenant_id::text = current_setting('app.tenant_id'));
SELECT tenant_enable('adopt_invoices');
RESET ROLE;
SELECT polname, polpermissive FROM pg_policy WHERE polrelid = 'adopt_invoices'::regclass ORDER BY 1;
SELECT "check", object, status FROM tenant_check() WHERE object LIKE 'public.adopt_invoices%' AND status <> 'ok' ORDER BY 1, 2;
ROLLBACK;

-- Nothing to adopt: a table without tenant RLS gets exactly what it got before.
BEGIN;
SET LOCAL ROLE migrator;
CREATE TABLE adopt_plain (tenant_id uuid NOT NULL DEFAULT 'aaaaaaaa-0000-4000-8000-000000000001', note text);
CREATE FUNCTION adopt_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := coalesce(NEW.note, 'stamped'); RETURN NEW; END $$;
CREATE TRIGGER adopt_stamp BEFORE INSERT ON adopt_plain FOR EACH ROW EXECUTE FUNCTION adopt_stamp();
SELECT tenant_enable_sql('adopt_plain') NOT LIKE '%adopts%' AS nothing_adopted;
ROLLBACK;

-- A Better Tenant database: its tenants table (here adopt_bt_tenants, the
-- docs' public.tenants) and data that names them. Imported into the registry
-- with their ids, the data's tenant_id needs no change; tenant_enable then adds
-- the foreign key to tenant.tenants beside Better Tenant's own.
BEGIN;
SET LOCAL ROLE migrator;
CREATE TABLE adopt_bt_tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL,
    slug text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO adopt_bt_tenants (id, name, slug) VALUES
    ('dddddddd-0000-4000-8000-000000000004', 'Hooli', 'hooli'),
    ('eeeeeeee-0000-4000-8000-000000000005', 'Pied Piper', 'pied-piper');
CREATE TABLE adopt_bt_tasks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES adopt_bt_tenants (id),
    title text NOT NULL);
INSERT INTO adopt_bt_tasks (tenant_id, title) VALUES
    ('dddddddd-0000-4000-8000-000000000004', 'hooli task'),
    ('eeeeeeee-0000-4000-8000-000000000005', 'piper task');
GRANT SELECT ON adopt_bt_tasks TO app_user;
-- Before the import the registry does not know them: nothing changes.
SAVEPOINT s;
SELECT tenant_enable('adopt_bt_tasks');
ROLLBACK TO s;
SELECT tenant_create(name, slug, id => id) = id AS kept_id FROM adopt_bt_tenants ORDER BY slug;
SAVEPOINT s;
SELECT tenant_create('Hooli again', id => 'dddddddd-0000-4000-8000-000000000004');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT tenant_enable('adopt_bt_tasks') IS NOT NULL AS enabled;
SELECT conname, confrelid::regclass FROM pg_constraint
 WHERE conrelid = 'adopt_bt_tasks'::regclass AND contype = 'f' ORDER BY 1;
RESET ROLE;
SET LOCAL ROLE app_user;
SELECT set_config('app.current_tenant', 'eeeeeeee-0000-4000-8000-000000000005', true) IS NOT NULL AS as_pied_piper;
SELECT title FROM adopt_bt_tasks;
RESET ROLE;
ROLLBACK;
