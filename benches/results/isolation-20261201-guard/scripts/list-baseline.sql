\set t random(1, 1000)
\set k random(1, 133600 / :t)
BEGIN;
SELECT * FROM rows_baseline WHERE tenant_id = md5((:t)::text)::uuid ORDER BY created_at DESC LIMIT 50;
COMMIT;
