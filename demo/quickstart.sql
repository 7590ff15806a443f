-- pg_tenant quick start: two tenants, one table, isolation enforced by Postgres.
-- Run by scripts/demo.sh against a throwaway cluster (as the superuser first).
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
\pset footer off

\echo '\n== 1. Install pg_tenant'
CREATE EXTENSION pg_tenant;

\echo '\n== 2. An application role: LOGIN, not superuser, no BYPASSRLS, not the table owner'
CREATE ROLE app LOGIN;

\echo '\n== 3. Two tenants'
SELECT tenant_create('Acme Corp') AS acme \gset
SELECT tenant_create('Globex') AS globex \gset
SELECT id, slug, name, status FROM tenant.tenants ORDER BY slug;

\echo '\n== 4. A table, made tenant-scoped by one call in a migration'
CREATE TABLE projects (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid,
    name      text NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO app;
SELECT tenant_enable('projects') AS "SQL run by tenant_enable";

\echo '\n== 5. The application connects as "app" (psql: \\c - app); each transaction names its tenant'
\c - app
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
\pset footer off
BEGIN;
SELECT set_config('app.current_tenant', :'acme', true) AS tenant;
INSERT INTO projects (name) VALUES ('Roadrunner trap'), ('Rocket skates');
COMMIT;
BEGIN;
SELECT set_config('app.current_tenant', :'globex', true) AS tenant;
INSERT INTO projects (name) VALUES ('Doomsday device');
COMMIT;

\echo '\n== 6. Acme sees only its own rows (no WHERE tenant_id = ... anywhere)'
BEGIN;
SELECT set_config('app.current_tenant', :'acme', true) AS tenant;
SELECT id, name FROM projects ORDER BY id;

\echo '\n== 7. ...and cannot write into Globex, nor move a row there'
INSERT INTO projects (tenant_id, name) VALUES (:'globex', 'planted by Acme');
UPDATE projects SET tenant_id = :'globex' WHERE name = 'Rocket skates';
COMMIT;

\echo '\n== 8. Globex sees only its own row'
BEGIN;
SELECT set_config('app.current_tenant', :'globex', true) AS tenant;
SELECT id, name FROM projects ORDER BY id;
COMMIT;

\echo '\n== 9. No tenant in context: nothing to read, nothing may be written'
SELECT count(*) AS rows_visible_without_a_tenant FROM projects;
INSERT INTO projects (name) VALUES ('whose is this?');

\echo '\n== 10. Asking for bypass is not enough for a role that was not granted tenant_bypass'
BEGIN;
SELECT set_config('app.bypass_rls', 'on', true) AS bypass_asked;
SELECT count(*) AS rows_visible_to_app_with_bypass_asked FROM projects;
COMMIT;

\echo '\n== 11. Quotas: an operator allows Globex one project; the database refuses the second'
\c - postgres
SELECT tenant_quota_set('globex', 'projects', 1);
\c - app
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
\pset footer off
BEGIN;
SELECT set_config('app.current_tenant', :'globex', true) AS tenant;
INSERT INTO projects (name) VALUES ('Second doomsday device');
SELECT quota, table_name, used, max_allowed, ratio FROM tenant.quota_status ORDER BY quota, table_name;
COMMIT;
