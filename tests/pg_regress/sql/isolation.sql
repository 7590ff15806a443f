-- Isolation as the application sees it: app_user is an ordinary LOGIN role
-- (not superuser, no BYPASSRLS, not the owner of projects).
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT id AS acme_id FROM tenant.tenants WHERE slug = 'acme-corp' \gset
SELECT id AS globex_id FROM tenant.tenants WHERE slug = 'globex' \gset
SELECT id AS initech_id FROM tenant.tenants WHERE slug = 'initech' \gset
\c - app_user
SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user;

-- Each tenant writes its own rows; tenant_id is filled by the trigger.
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO projects (name) VALUES ('Roadrunner trap'), ('Rocket skates');
COMMIT;
BEGIN;
SELECT act_as('globex');
INSERT INTO projects (name) VALUES ('Doomsday device');
COMMIT;

-- Each tenant sees only its own rows.
BEGIN;
SELECT act_as('acme-corp');
SELECT name, tenant_id = current_tenant_id() AS own_row FROM projects ORDER BY name;
COMMIT;
BEGIN;
SELECT act_as('globex');
SELECT name FROM projects ORDER BY name;
COMMIT;

-- Acme cannot touch Globex's rows.
BEGIN;
SELECT act_as('acme-corp');
-- read another tenant's row, by name or by its tenant_id: nothing
SELECT count(*) AS visible FROM projects WHERE name = 'Doomsday device';
SELECT count(*) AS visible FROM projects WHERE tenant_id = :'globex_id';
-- insert naming the other tenant: refused by WITH CHECK
INSERT INTO projects (tenant_id, name) VALUES (:'globex_id', 'planted');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- naming its own tenant explicitly is fine
INSERT INTO projects (tenant_id, name) VALUES ((SELECT current_tenant_id()), 'own row, explicit id');
-- update that moves an own row to another tenant: refused
UPDATE projects SET tenant_id = :'globex_id' WHERE name = 'Rocket skates';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- update and delete of the other tenant's rows: they are not there
UPDATE projects SET name = 'hijacked' WHERE name = 'Doomsday device';
DELETE FROM projects WHERE name = 'Doomsday device';
COMMIT;

-- INSERT ... ON CONFLICT DO UPDATE that hits another tenant's row (conflict on the
-- primary key, which does not include tenant_id): an error, never an update.
\c - postgres
SELECT id AS globex_row FROM projects WHERE name = 'Doomsday device' \gset
\c - app_user
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO projects (id, name) OVERRIDING SYSTEM VALUE VALUES (:globex_row, 'stolen')
    ON CONFLICT (id) DO UPDATE SET name = 'stolen';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO projects (id, name) OVERRIDING SYSTEM VALUE VALUES (:globex_row, 'stolen')
    ON CONFLICT (id) DO NOTHING;
SELECT count(*) AS acme_rows_named_stolen FROM projects WHERE name = 'stolen';
COMMIT;

-- No context: no rows, and inserts are refused with a message that says what to do.
SELECT count(*) AS rows_without_context FROM projects;
INSERT INTO projects (name) VALUES ('homeless');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Empty context behaves like none.
BEGIN;
SELECT set_config('app.current_tenant', '', true) = '' AS emptied;
SELECT count(*) AS rows_with_empty_context FROM projects;
COMMIT;

-- Malformed context: an error, never rows.
BEGIN;
SELECT set_config('app.current_tenant', 'acme-corp', true) IS NOT NULL;
SELECT count(*) FROM projects;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- The state after all of the above, as the superuser sees it.
\c - postgres
SELECT t.slug, p.name FROM projects p JOIN tenant.tenants t ON t.id = p.tenant_id ORDER BY t.slug, p.name;

-- The table owner is bound too: RLS is forced.
SET ROLE migrator;
SELECT count(*) AS owner_rows_without_context FROM projects;
BEGIN;
SELECT act_as('globex');
SELECT name FROM projects;
INSERT INTO projects (tenant_id, name) VALUES (:'initech_id', 'owner plants');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
RESET ROLE;
