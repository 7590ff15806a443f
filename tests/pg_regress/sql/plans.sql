-- The policy lets the planner use an index on tenant_id, and the current
-- tenant is computed once per statement (an InitPlan), not once per row.
\set SHOW_CONTEXT never
SET ROLE migrator;
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL, payload text);
SELECT tenant_enable('events') IS NOT NULL AS enabled;
GRANT SELECT, INSERT ON events TO app_user;
RESET ROLE;
-- 100 tenants x 200 rows, statistics up to date.
INSERT INTO tenant.tenants (slug, name) SELECT 'bulk-' || g, 'Bulk ' || g FROM generate_series(1, 100) g;
INSERT INTO events (tenant_id, payload)
SELECT t.id, 'event ' || g FROM tenant.tenants t, generate_series(1, 200) g WHERE t.slug LIKE 'bulk-%'
 ORDER BY t.slug, g;
-- The application's own index for "newest rows of a tenant"; the policy's
-- tenant match is an index condition on it, like a hand-written WHERE would be.
CREATE INDEX events_tenant_newest ON events (tenant_id, id DESC);
ANALYZE events;

SET ROLE app_user;
BEGIN;
SELECT act_as('bulk-7');
EXPLAIN (COSTS OFF) SELECT * FROM events ORDER BY id DESC LIMIT 50;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM events;
SELECT count(*) AS bulk_7_events FROM events;
COMMIT;
RESET ROLE;

-- Parallel queries: the status lookup (which pins search_path while it runs as
-- the registry owner) works in the leader and inside parallel workers.
SET ROLE app_user;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
BEGIN;
SELECT act_as('bulk-7');
EXPLAIN (COSTS OFF) SELECT count(*) FROM events WHERE payload LIKE 'event 1%';
SELECT count(*) AS via_policy FROM events WHERE payload LIKE 'event 1%';
SELECT count(*) AS called_in_workers FROM events WHERE tenant_id = current_tenant_id() AND payload LIKE 'event 1%';
COMMIT;
RESET ALL;
RESET ROLE;
