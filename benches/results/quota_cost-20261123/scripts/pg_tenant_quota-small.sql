BEGIN;
SELECT set_config('app.current_tenant', '00000000-0000-4000-8000-000000000001', true);
INSERT INTO rows_pg_tenant_quota (payload) VALUES ('new');
ROLLBACK;
