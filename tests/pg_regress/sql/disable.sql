-- tenant_disable undoes tenant_enable and keeps the data.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
SELECT tenant_disable('comments');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'comments'::regclass;
SELECT count(*) AS policies FROM pg_policy WHERE polrelid = 'comments'::regclass;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'comments'::regclass AND NOT tgisinternal;
SELECT count(*) AS registered FROM tenant.tables WHERE relid = 'comments'::regclass;
-- the column, its foreign key and its index stay
SELECT attnotnull FROM pg_attribute WHERE attrelid = 'comments'::regclass AND attname = 'tenant_id';
SELECT count(*) AS foreign_keys FROM pg_constraint WHERE conrelid = 'comments'::regclass AND contype = 'f';
SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'comments'::regclass ORDER BY 1;
-- twice is a no-op
SELECT tenant_disable('comments');
-- and it can be enabled again
SELECT tenant_enable('comments') IS NOT NULL AS re_enabled;
SELECT tenant_enable_sql('comments');

-- Another policy on the table keeps RLS on after disable (turning RLS off would
-- switch that policy off too).
CREATE TABLE shared_docs (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, public boolean);
SELECT tenant_enable('shared_docs') IS NOT NULL AS enabled;
CREATE POLICY public_docs ON shared_docs FOR SELECT USING (public);
SELECT tenant_disable('shared_docs');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'shared_docs'::regclass;
RESET ROLE;
