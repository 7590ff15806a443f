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

-- Usage of a partitioned table is counted on the counted root: rows routed
-- through it by its own triggers, rows written straight into a partition by
-- the partition's (on the root's counters and limits), and the rows an
-- attached table brings. Every recount agrees (a partition counted on its own
-- was counted twice by every recount).
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
CREATE TABLE pevents (id int, tenant_id uuid NOT NULL, at int NOT NULL, body text) PARTITION BY RANGE (at);
CREATE TABLE pevents_1 PARTITION OF pevents FOR VALUES FROM (0) TO (100);
SELECT tenant_enable('pevents') IS NOT NULL AS enabled;
CREATE TABLE pevents_2 PARTITION OF pevents FOR VALUES FROM (100) TO (200);
GRANT SELECT, INSERT ON pevents, pevents_2 TO app_user;
SELECT tenant_quota_set('acme-corp', 'pevents', 4) IS NOT NULL AS limited;
CREATE TABLE pevents_3 (id int, tenant_id uuid NOT NULL, at int NOT NULL, body text);
INSERT INTO pevents_3 SELECT n, id, 250 + n, 'brought' FROM tenant.tenants, generate_series(6, 7) n
 WHERE slug = 'acme-corp';
RESET ROLE;
SET ROLE app_user;
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO pevents (id, at, body) VALUES (1, 1, 'routed'), (2, 150, 'routed');
INSERT INTO pevents_2 (id, at, body) VALUES (3, 160, 'straight into the partition');
INSERT INTO pevents_2 (id, at, body) VALUES (4, 170, 'over'), (5, 180, 'over');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
RESET ROLE;
SET ROLE migrator;
ALTER TABLE pevents ATTACH PARTITION pevents_3 FOR VALUES FROM (200) TO (300);
RESET ROLE;
SELECT u.relid::regclass AS relation, sum(u.row_count) AS counted_rows
  FROM tenant.usage_by_table u JOIN tenant.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'acme-corp' AND u.relid::text LIKE 'pevents%' GROUP BY 1 ORDER BY 1;
SELECT table_name, counter, recorded, actual FROM tenant_usage_reconcile('acme-corp')
 WHERE table_name LIKE '%pevents%' OR table_name IS NULL ORDER BY 1, 2;
SELECT "check", object, status FROM tenant_check() WHERE "check" = 'usage_counters' AND status <> 'ok';
-- A detached partition counts its own rows from then on; they stay counted on
-- the root (more than there is, never less) until reconciled.
SET ROLE migrator;
ALTER TABLE pevents DETACH PARTITION pevents_2;
RESET ROLE;
SELECT u.relid::regclass AS relation, sum(u.row_count) AS counted_rows
  FROM tenant.usage_by_table u JOIN tenant.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'acme-corp' AND u.relid::text LIKE 'pevents%' GROUP BY 1 ORDER BY 1;
SELECT table_name, counter, recorded, actual FROM tenant_usage_reconcile('acme-corp')
 WHERE table_name LIKE '%pevents%' AND counter = 'rows' ORDER BY 1, 2;
SET ROLE migrator;
DROP TABLE pevents, pevents_2;
RESET ROLE;
SELECT count(*) AS registry_rows_left FROM tenant.tables WHERE relid::text LIKE 'pevents%';
