\set t random(1, 1000)
\set k random(1, 133600 / :t)
BEGIN;
SELECT set_config('app.current_tenant', md5((:t)::text)::uuid::text, true);
SELECT * FROM rows_pg_tenant_quota  ORDER BY created_at DESC LIMIT 50;
COMMIT;
