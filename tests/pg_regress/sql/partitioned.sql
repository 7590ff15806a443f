-- Partitioned tables: enabled on the parent; rows are isolated through the parent.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
CREATE TABLE measurements (id bigint, tenant_id uuid NOT NULL, taken date NOT NULL, value numeric)
    PARTITION BY RANGE (taken);
CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT tenant_enable('measurements') IS NOT NULL AS enabled;
SELECT tenant_enable_sql('measurements');
-- the fill trigger and the index reach every partition
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname = 'tenant_set_id'
   AND tgrelid::regclass::text LIKE 'measurements%' ORDER BY 1;
SELECT indrelid::regclass, indexrelid::regclass FROM pg_index
 WHERE indrelid::regclass::text LIKE 'measurements%' ORDER BY 1;
-- The application is granted the parent only: partitions are reached through it,
-- where the policies apply (RLS of a parent does not cover direct partition access).
GRANT SELECT, INSERT ON measurements TO app_user;
RESET ROLE;

\c - app_user
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO measurements (id, taken, value) VALUES (1, '2025-06-01', 1.5), (2, '2026-06-01', 2.5);
COMMIT;
BEGIN;
SELECT act_as('globex');
INSERT INTO measurements (id, taken, value) VALUES (3, '2026-07-01', 9.9);
SELECT id, taken, value FROM measurements ORDER BY id;
INSERT INTO measurements (id, tenant_id, taken, value) VALUES (4, 'aaaaaaaa-0000-4000-8000-000000000001', '2026-07-01', 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
BEGIN;
SELECT act_as('acme-corp');
SELECT id, taken, value FROM measurements ORDER BY id;
SELECT count(*) FROM measurements_2026;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
\c - postgres
