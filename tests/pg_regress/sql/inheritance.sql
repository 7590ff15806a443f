-- Inheritance children of a counted table count on it, as partitions do:
-- rows written into a child by name count against the parent's quotas (they
-- used to pass them uncounted), rows the child brings when it starts
-- inheriting are added, a child that leaves counts its own, and every
-- recount agrees. A child's own columns count in its rows' size.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SET ROLE migrator;
CREATE TABLE inh_notes (id int, tenant_id uuid NOT NULL, body text);
SELECT tenant_enable('inh_notes') IS NOT NULL AS enabled;
CREATE TABLE inh_notes_archive () INHERITS (inh_notes);
CREATE TABLE inh_notes_rich (attachment text) INHERITS (inh_notes);
SELECT relid::regclass, track_usage FROM tenant.tables
 WHERE relid::text LIKE 'inh_notes%' ORDER BY 1;
GRANT SELECT, INSERT, UPDATE, DELETE ON inh_notes, inh_notes_archive, inh_notes_rich TO app_user;
SELECT tenant_quota_set('acme-corp', 'inh_notes', 4) IS NOT NULL AS limited;
-- A table with rows of its own that starts inheriting brings them.
CREATE TABLE inh_notes_old (id int, tenant_id uuid NOT NULL, body text);
INSERT INTO inh_notes_old SELECT n, id, 'old' FROM tenant.tenants, generate_series(10, 11) n
 WHERE slug = 'globex';
RESET ROLE;

SET ROLE app_user;
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO inh_notes (id, body) VALUES (1, 'through the parent');
INSERT INTO inh_notes_archive (id, body) VALUES (2, 'into the child by name');
INSERT INTO inh_notes_rich (id, body, attachment) VALUES (3, 'with its own column', repeat('x', 100));
-- The parent's row limit holds for writes into a child by name.
INSERT INTO inh_notes_archive (id, body) VALUES (4, 'fourth'), (5, 'fifth');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO inh_notes_rich (id, body) VALUES (4, 'fourth');
SELECT count(*) AS acme_rows FROM inh_notes;
COMMIT;
-- Deleted and updated through the parent, or in the child by name.
BEGIN;
SELECT act_as('acme-corp');
UPDATE inh_notes SET body = 'longer body, changed through the parent' WHERE id = 2;
DELETE FROM inh_notes_rich WHERE id = 4;
COMMIT;
RESET ROLE;

SELECT u.relid::regclass AS relation, u.row_count AS counted_rows
  FROM tenant.usage_by_table u JOIN tenant.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'acme-corp' AND u.relid::text LIKE 'inh_notes%' AND u.row_count <> 0 ORDER BY 1;
SELECT table_name, counter, recorded, actual FROM tenant_usage_reconcile('acme-corp')
 WHERE table_name LIKE '%inh_notes%' OR table_name IS NULL ORDER BY 1, 2;
-- The bytes counted include notes_rich's own column, which a scan of the
-- parent does not show.
SELECT u.bytes AS counted_bytes,
       (SELECT sum(_tenant_row_bytes(n.*)) FROM inh_notes n WHERE n.tenant_id = t.id) AS parent_columns_only
  FROM tenant.usage_by_table u JOIN tenant.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'acme-corp' AND u.relid = 'inh_notes'::regclass;

-- ALTER TABLE ... INHERIT: globex's two rows in inh_notes_old now count on inh_notes.
SET ROLE migrator;
ALTER TABLE inh_notes_old INHERIT inh_notes;
RESET ROLE;
SELECT relid::regclass, track_usage FROM tenant.tables WHERE relid = 'inh_notes_old'::regclass;
SELECT u.relid::regclass AS relation, u.row_count AS counted_rows
  FROM tenant.usage_by_table u JOIN tenant.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'globex' AND u.relid::text LIKE 'inh_notes%' AND u.row_count <> 0 ORDER BY 1;
SELECT count(*) AS corrections FROM tenant_usage_reconcile();
SELECT "check", object, status FROM tenant_check()
 WHERE object LIKE '%inh_notes%' AND status <> 'ok' ORDER BY 1, 2;

-- TRUNCATE ONLY the parent: the children keep their rows, and their counts.
SET ROLE migrator;
TRUNCATE ONLY inh_notes;
RESET ROLE;
SELECT count(*) AS corrections FROM tenant_usage_reconcile();

-- NO INHERIT: inh_notes_old counts its own rows from then on.
SET ROLE migrator;
ALTER TABLE inh_notes_old NO INHERIT inh_notes;
RESET ROLE;
SELECT u.relid::regclass AS relation, u.row_count AS counted_rows
  FROM tenant.usage_by_table u JOIN tenant.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'globex' AND u.relid::text LIKE 'inh_notes%' AND u.row_count <> 0 ORDER BY 1;
SELECT table_name, counter, recorded, actual FROM tenant_usage_reconcile('globex')
 WHERE table_name LIKE '%inh_notes%' ORDER BY 1, 2;

-- A row limit belongs on the table the rows count on: set on a child, it
-- would never be consulted (22023, naming the parent).
SELECT tenant_quota_set('acme-corp', 'inh_notes_rich', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A child that starts counting while it holds rows no counter saw (it was
-- registered without counting, as earlier releases did, and written by name
-- meanwhile): the parent is recounted, and its limit holds again.
SELECT tenant_enable('inh_notes_archive', track_usage => false) IS NOT NULL AS stopped;
RESET ROLE;
SET ROLE app_user;
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO inh_notes_archive (id, body) SELECT n, 'written while uncounted' FROM generate_series(20, 24) n;
COMMIT;
RESET ROLE;
SET ROLE migrator;
SELECT tenant_enable('inh_notes_archive') IS NOT NULL AS counting_again;
RESET ROLE;
SELECT count(*) AS corrections FROM tenant_usage_reconcile();
SET ROLE app_user;
BEGIN;
SELECT act_as('acme-corp');
INSERT INTO inh_notes_archive (id, body) VALUES (25, 'past the limit');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;
DELETE FROM inh_notes_archive WHERE id >= 20;

-- A new child under an uncounted middle table counts on the counted table
-- above it.
SET ROLE migrator;
CREATE TABLE inh_notes_mid () INHERITS (inh_notes);
SELECT tenant_enable('inh_notes_mid', track_usage => false) IS NOT NULL AS uncounted_middle;
CREATE TABLE inh_notes_leaf () INHERITS (inh_notes_mid);
SELECT relid::regclass, track_usage FROM tenant.tables WHERE relid = 'inh_notes_leaf'::regclass;
DROP TABLE inh_notes_leaf, inh_notes_mid;
RESET ROLE;

-- A parent that stops counting: its counted children count their own rows
-- from then on (they started again from nothing before).
SET ROLE migrator;
CREATE TABLE inh_top (id int, tenant_id uuid NOT NULL, body text);
SELECT tenant_enable('inh_top') IS NOT NULL AS enabled;
CREATE TABLE inh_top_leaf () INHERITS (inh_top);
RESET ROLE;
INSERT INTO inh_top_leaf (id, tenant_id, body) SELECT n, id, 'leaf' FROM tenant.tenants, generate_series(1, 3) n
 WHERE slug = 'acme-corp';
SET ROLE migrator;
SELECT tenant_enable('inh_top', track_usage => false) IS NOT NULL AS stopped;
RESET ROLE;
SELECT u.relid::regclass AS relation, u.row_count AS counted_rows
  FROM tenant.usage_by_table u JOIN tenant.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'acme-corp' AND u.relid::text LIKE 'inh_top%' AND u.row_count <> 0 ORDER BY 1;
SELECT count(*) AS corrections FROM tenant_usage_reconcile();
SET ROLE migrator;
DROP TABLE inh_top, inh_top_leaf;
RESET ROLE;

-- Moving or erasing a tenant across a tree. A child that existed before its
-- parent was enabled is not tenant-scoped: an export would leave its rows
-- out (the parent is read ONLY), so it is refused until the child is.
SELECT tenant_create('Inherit Purge', 'inh-purge') IS NOT NULL AS created;
SET ROLE migrator;
CREATE TABLE inh_docs (id int, tenant_id uuid NOT NULL, body text);
CREATE TABLE inh_docs_old (note text) INHERITS (inh_docs);
RESET ROLE;
INSERT INTO inh_docs_old (id, tenant_id, body, note) SELECT 1, id, 'old', 'kept' FROM tenant.tenants WHERE slug = 'inh-purge';
SET ROLE migrator;
SELECT tenant_enable('inh_docs') IS NOT NULL AS enabled;
CREATE TABLE inh_docs_new () INHERITS (inh_docs);
RESET ROLE;
INSERT INTO inh_docs (id, tenant_id, body) SELECT 2, id, 'parent' FROM tenant.tenants WHERE slug = 'inh-purge';
INSERT INTO inh_docs_new (id, tenant_id, body) SELECT 3, id, 'new' FROM tenant.tenants WHERE slug = 'inh-purge';
SELECT count(*) FROM tenant_export('inh-purge');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ROLE migrator;
SELECT tenant_enable('inh_docs_old') IS NOT NULL AS enabled;
RESET ROLE;
SELECT relation, count(*) AS rows FROM tenant_export('inh-purge')
 WHERE kind = 'row' AND relation LIKE 'public.inh_docs%' GROUP BY 1 ORDER BY 1;
-- The purge reports each table's own rows, and leaves none.
SELECT relation, rows_deleted FROM tenant_purge('inh-purge', force => true)
 WHERE relation LIKE 'public.inh_docs%' ORDER BY 1;
SELECT count(*) AS corrections FROM tenant_usage_reconcile();
SET ROLE migrator;
DROP TABLE inh_docs, inh_docs_old, inh_docs_new;
RESET ROLE;

-- A child of two counted tables would be counted twice: refused.
SET ROLE migrator;
CREATE TABLE inh_memos (id int, tenant_id uuid NOT NULL, body text);
SELECT tenant_enable('inh_memos') IS NOT NULL AS enabled;
CREATE TABLE inh_notes_and_memos () INHERITS (inh_notes, inh_memos);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE inh_notes_archive INHERIT inh_memos;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A child registered without counting (as earlier releases scoped every
-- inheritance child) is reported: its direct writes pass the parent's quotas.
SELECT tenant_enable('inh_notes_archive', track_usage => false) IS NOT NULL AS stopped;
RESET ROLE;
SELECT "check", object, status, detail, fix FROM tenant_check()
 WHERE "check" = 'usage_triggers' AND status <> 'ok';
SET ROLE migrator;
SELECT tenant_enable('inh_notes_archive') IS NOT NULL AS counting_again;
RESET ROLE;
SELECT count(*) AS corrections FROM tenant_usage_reconcile();
SELECT count(*) AS problems FROM tenant_check() WHERE object LIKE '%inh_notes%' AND status <> 'ok';
SET ROLE migrator;
DROP TABLE inh_notes, inh_notes_archive, inh_notes_rich, inh_notes_old, inh_memos;
RESET ROLE;
