\set t random(1, 1000)
\set k random(1, 133600 / :t)
BEGIN;
SELECT count(*) FROM rows_baseline WHERE tenant_id = md5((:t)::text)::uuid;
COMMIT;
