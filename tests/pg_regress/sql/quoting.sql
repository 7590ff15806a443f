-- Identifiers are quoted everywhere: odd names work and cannot inject SQL.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
CREATE SCHEMA "My Schema" AUTHORIZATION migrator;
SET ROLE migrator;
CREATE TABLE "My Schema"."Weird ""Name""" (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, note text);
CREATE TABLE "My Schema"."x; DROP TABLE projects; --" (id bigint PRIMARY KEY);
GRANT USAGE ON SCHEMA "My Schema" TO app_user;
GRANT SELECT, INSERT ON "My Schema"."Weird ""Name""" TO app_user;
SELECT tenant_enable_sql('"My Schema"."Weird ""Name"""');
SELECT tenant_enable('"My Schema"."Weird ""Name"""') IS NOT NULL AS enabled;
SELECT tenant_enable_sql('"My Schema"."Weird ""Name"""');
SELECT tenant_enable('"My Schema"."x; DROP TABLE projects; --"', add_column => true);
-- A single quote in the name reaches the regclass literal through quote_literal.
CREATE TABLE "My Schema"."it's" (id bigint PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT tenant_enable_sql('"My Schema"."it''s"') LIKE '%(''"My Schema"."it''''s"''::regclass%' AS literal_is_quoted;
SELECT tenant_enable('"My Schema"."it''s"') IS NOT NULL AS enabled;
SELECT tenant_enable_sql('"My Schema"."it''s"');
SELECT to_regclass('public.projects') IS NOT NULL AS projects_still_there;
SELECT relid FROM tenant.tables WHERE relid::text LIKE '"My Schema"%' ORDER BY 1;
RESET ROLE;

\c - app_user
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO "My Schema"."Weird ""Name""" (id, note) VALUES (1, 'quoted');
SELECT id, note, tenant_id = current_tenant_id() AS own FROM "My Schema"."Weird ""Name""";
COMMIT;
BEGIN;
SELECT act_as('globex');
SELECT count(*) FROM "My Schema"."Weird ""Name""";
COMMIT;
\c - postgres
