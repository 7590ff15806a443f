\set t random(1, 1000)
\set k random(1, 133600 / :t)
BEGIN;
SELECT set_config('app.current_tenant', md5((:t)::text)::uuid::text, true);
SELECT * FROM rows_baseline_ctx WHERE id = (:t) * 1000000 + :k AND tenant_id = md5((:t)::text)::uuid;
COMMIT;
