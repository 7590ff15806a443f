\set t random(1, 1000)
\set k random(1, 133600 / :t)
BEGIN;
INSERT INTO rows_baseline (tenant_id, payload) VALUES (md5((:t)::text)::uuid, 'new');
COMMIT;
