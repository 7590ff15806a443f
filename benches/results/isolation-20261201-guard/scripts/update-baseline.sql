\set t random(1, 1000)
\set k random(1, 133600 / :t)
BEGIN;
UPDATE rows_baseline SET payload = 'updated' WHERE id = (:t) * 1000000 + :k AND tenant_id = md5((:t)::text)::uuid;
COMMIT;
