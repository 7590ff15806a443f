-- pg_tenant registry, part 2 of 2 (runs after pgrx created the functions).
-- Registry policies and triggers, grants on functions, and a comment on every
-- function so that \df+ explains it.

-- tenant.tenants: an application role sees the row of its current tenant;
-- tenant_admin members see every row. There is no write policy: writes go
-- through the SECURITY DEFINER functions (tenant_create, ...).
CREATE POLICY tenant_isolation ON tenant.tenants
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.tenants IS
    'pg_tenant: a session sees the registry row of the tenant in app.current_tenant.';
CREATE POLICY tenant_admin_read ON tenant.tenants
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.tenants IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) list every tenant.';

-- tenant.tables holds no tenant data (table names and options): readable by all.
CREATE POLICY tenant_tables_read ON tenant.tables
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (true);
COMMENT ON POLICY tenant_tables_read ON tenant.tables IS
    'pg_tenant: which tables are tenant-scoped is not secret; writes go through tenant_enable/tenant_disable.';

-- tenant.check_acceptances: operators read it; tenant_check_accept and
-- tenant_check_unaccept write it.
CREATE POLICY tenant_admin_read ON tenant.check_acceptances
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.check_acceptances IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see the accepted tenant_check findings.';

-- tenant.erasures: operators read it; tenant_purge and tenant_purge_expired
-- add to it; nobody changes it.
CREATE POLICY tenant_admin_read ON tenant.erasures
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.erasures IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see the erasure records.';
CREATE TRIGGER tenant_append_only BEFORE UPDATE OR DELETE ON tenant.erasures
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_append_only();
CREATE TRIGGER tenant_append_only_truncate BEFORE TRUNCATE ON tenant.erasures
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_append_only();
COMMENT ON TRIGGER tenant_append_only ON tenant.erasures IS
    'pg_tenant: erasure records are append-only; UPDATE and DELETE are refused (42501).';
COMMENT ON TRIGGER tenant_append_only_truncate ON tenant.erasures IS
    'pg_tenant: erasure records are append-only; TRUNCATE is refused (42501).';

-- tenant.bypass_log: operators read it; the bypass recorder adds to it;
-- nobody changes it.
CREATE POLICY tenant_admin_read ON tenant.bypass_log
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.bypass_log IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see the break-glass records.';
CREATE TRIGGER tenant_append_only BEFORE UPDATE OR DELETE ON tenant.bypass_log
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_append_only();
CREATE TRIGGER tenant_append_only_truncate BEFORE TRUNCATE ON tenant.bypass_log
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_append_only();
COMMENT ON TRIGGER tenant_append_only ON tenant.bypass_log IS
    'pg_tenant: break-glass records are append-only; UPDATE and DELETE are refused (42501).';
COMMENT ON TRIGGER tenant_append_only_truncate ON tenant.bypass_log IS
    'pg_tenant: break-glass records are append-only; TRUNCATE is refused (42501).';

-- tenant.audit_log: a session reads its tenant's entries, operators every
-- entry; only the audit trigger writes it, as the registry owner.
CREATE POLICY tenant_isolation ON tenant.audit_log
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id())
           AND @extschema@._tenant_may_read_audited(relation));
COMMENT ON POLICY tenant_isolation ON tenant.audit_log IS
    'pg_tenant: a session sees the audit entries of the tenant in app.current_tenant, of the tables it may SELECT (the entries carry the rows'' values).';
CREATE POLICY tenant_admin_read ON tenant.audit_log
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.audit_log IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s audit entries.';

-- members, domains, settings: an application role sees its current tenant's
-- rows; tenant_admin members see every tenant's. No write policies: writes go
-- through pg_tenant's functions, which check who is asking.
CREATE POLICY tenant_isolation ON tenant.members
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.members IS
    'pg_tenant: a session sees the members of the tenant in app.current_tenant.';
CREATE POLICY tenant_admin_read ON tenant.members
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.members IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s members.';
CREATE POLICY tenant_isolation ON tenant.domains
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.domains IS
    'pg_tenant: a session sees the domains of the tenant in app.current_tenant (without their tokens).';
CREATE POLICY tenant_admin_read ON tenant.domains
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.domains IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s domains.';
CREATE POLICY tenant_isolation ON tenant.settings
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.settings IS
    'pg_tenant: a session sees the settings of the tenant in app.current_tenant.';
CREATE POLICY tenant_admin_read ON tenant.settings
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.settings IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s settings.';

-- Plans and plan row limits: every role may read them (an application shows
-- the plans it sells); tenant_admin members edit them.
CREATE POLICY tenant_plans_read ON tenant.plans
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (true);
COMMENT ON POLICY tenant_plans_read ON tenant.plans IS
    'pg_tenant: plans are not secret; every role may read them.';
CREATE POLICY tenant_admin_write ON tenant.plans
    AS PERMISSIVE FOR ALL TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads())) WITH CHECK ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_write ON tenant.plans IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) create and edit plans.';
CREATE POLICY tenant_plans_read ON tenant.plan_row_limits
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (true);
COMMENT ON POLICY tenant_plans_read ON tenant.plan_row_limits IS
    'pg_tenant: plan row limits are not secret; every role may read them.';
CREATE POLICY tenant_admin_write ON tenant.plan_row_limits
    AS PERMISSIVE FOR ALL TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads())) WITH CHECK ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_write ON tenant.plan_row_limits IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) edit plan row limits (or use tenant_plan_quota_set).';

-- Per-tenant limits and usage: a session sees its current tenant's rows,
-- tenant_admin members every tenant's. The counters are written only by
-- pg_tenant's triggers and functions.
CREATE POLICY tenant_isolation ON tenant.row_limits
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.row_limits IS
    'pg_tenant: a session sees the row limits of the tenant in app.current_tenant.';
CREATE POLICY tenant_admin_read ON tenant.row_limits
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.row_limits IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s row limits.';
CREATE POLICY tenant_isolation ON tenant.usage_totals
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.usage_totals IS
    'pg_tenant: a session sees the usage of the tenant in app.current_tenant.';
CREATE POLICY tenant_admin_read ON tenant.usage_totals
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.usage_totals IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s usage.';
CREATE POLICY tenant_isolation ON tenant.usage_by_table
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.usage_by_table IS
    'pg_tenant: a session sees the per-table usage of the tenant in app.current_tenant.';
CREATE POLICY tenant_admin_read ON tenant.usage_by_table
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.usage_by_table IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s per-table usage.';
CREATE POLICY tenant_isolation ON tenant.usage
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.usage IS
    'pg_tenant: a session sees the API request counts of the tenant in app.current_tenant.';
CREATE POLICY tenant_admin_read ON tenant.usage
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.usage IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s API request counts.';

-- The default plans, and the trigger that lets a restored dump replace them.
CREATE TRIGGER tenant_plans_restore
    BEFORE INSERT ON tenant.plans
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_plans_restore();
COMMENT ON TRIGGER tenant_plans_restore ON tenant.plans IS
    'pg_tenant: a plan inserted under the id of a default plan that is still as installed replaces it (so restoring a dump keeps edited plans).';
SELECT @extschema@._tenant_plans_install();

-- A row that names a tenant, plan or table the registry does not have is
-- refused with a message that says how to restore a dump in order
-- (src/api/restore.rs); the foreign keys alone would not say it. Not on
-- tenant.usage: tenant_record_api_request inserts into it on every call.
CREATE TRIGGER tenant_references BEFORE INSERT ON tenant.tenants
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_registry_references('plan=plans');
CREATE TRIGGER tenant_references BEFORE INSERT ON tenant.members
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_registry_references('tenant_id=tenants');
CREATE TRIGGER tenant_references BEFORE INSERT ON tenant.domains
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_registry_references('tenant_id=tenants');
CREATE TRIGGER tenant_references BEFORE INSERT ON tenant.settings
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_registry_references('tenant_id=tenants');
CREATE TRIGGER tenant_references BEFORE INSERT ON tenant.plan_row_limits
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_registry_references('plan_id=plans', 'relid=tables');
CREATE TRIGGER tenant_references BEFORE INSERT ON tenant.row_limits
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_registry_references('tenant_id=tenants', 'relid=tables');
CREATE TRIGGER tenant_references BEFORE INSERT ON tenant.usage_totals
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_registry_references('tenant_id=tenants');
CREATE TRIGGER tenant_references BEFORE INSERT ON tenant.usage_by_table
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_registry_references('tenant_id=tenants', 'relid=tables');
COMMENT ON TRIGGER tenant_references ON tenant.tenants IS
    'pg_tenant: refuses a tenant whose plan is not in tenant.plans, saying how to restore a dump in order.';
COMMENT ON TRIGGER tenant_references ON tenant.members IS
    'pg_tenant: refuses a member of a tenant not in tenant.tenants, saying how to restore a dump in order.';
COMMENT ON TRIGGER tenant_references ON tenant.domains IS
    'pg_tenant: refuses a domain of a tenant not in tenant.tenants, saying how to restore a dump in order.';
COMMENT ON TRIGGER tenant_references ON tenant.settings IS
    'pg_tenant: refuses a setting of a tenant not in tenant.tenants, saying how to restore a dump in order.';
COMMENT ON TRIGGER tenant_references ON tenant.plan_row_limits IS
    'pg_tenant: refuses a row limit of a plan or table the registry does not have, saying how to restore a dump in order.';
COMMENT ON TRIGGER tenant_references ON tenant.row_limits IS
    'pg_tenant: refuses a row limit of a tenant or table the registry does not have, saying how to restore a dump in order.';
COMMENT ON TRIGGER tenant_references ON tenant.usage_totals IS
    'pg_tenant: refuses usage of a tenant not in tenant.tenants, saying how to restore a dump in order.';
COMMENT ON TRIGGER tenant_references ON tenant.usage_by_table IS
    'pg_tenant: refuses usage of a tenant or table the registry does not have, saying how to restore a dump in order.';

-- The registry's triggers cannot be disabled (pg_restore --disable-triggers
-- would otherwise load it without them).
CREATE EVENT TRIGGER tenant_registry_guard ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION @extschema@._tenant_registry_guard();
COMMENT ON EVENT TRIGGER tenant_registry_guard IS
    'pg_tenant: refuses ALTER TABLE ... DISABLE TRIGGER (or ENABLE REPLICA TRIGGER) on pg_tenant''s registry tables.';

-- The DDL guard (src/api/ddl_guard.rs, pg_tenant.ddl_guard).
CREATE EVENT TRIGGER tenant_ddl_guard ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE', 'ALTER POLICY', 'CREATE POLICY', 'DROP POLICY', 'CREATE TRIGGER', 'ALTER TRIGGER', 'DROP TRIGGER',
                 'ALTER VIEW', 'ALTER MATERIALIZED VIEW', 'ALTER FOREIGN TABLE', 'ALTER TYPE', 'CREATE RULE')
    EXECUTE FUNCTION @extschema@._tenant_ddl_guard();
COMMENT ON EVENT TRIGGER tenant_ddl_guard IS
    'pg_tenant: refuses (pg_tenant.ddl_guard) DDL that weakens a tenant-scoped table unless tenant_disable runs it; warns about a new permissive policy on one.';
CREATE EVENT TRIGGER tenant_ddl_dropped ON sql_drop
    EXECUTE FUNCTION @extschema@._tenant_ddl_dropped();
COMMENT ON EVENT TRIGGER tenant_ddl_dropped IS
    'pg_tenant: takes a dropped tenant-scoped table out of the registry (tenant.tables, its counters and limits).';
CREATE EVENT TRIGGER tenant_ddl_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'CREATE FOREIGN TABLE', 'CREATE SCHEMA', 'ALTER TABLE')
    EXECUTE FUNCTION @extschema@._tenant_ddl_partitions();
COMMENT ON EVENT TRIGGER tenant_ddl_partitions IS
    'pg_tenant: makes a partition created under (or attached to) a tenant-scoped parent tenant-scoped in the same statement, and, with pg_tenant.auto_enable, a new table with a tenant_id uuid column in pg_tenant.auto_enable_schemas.';

-- Usage and quotas for every tenant, one row per tenant and quota, for
-- dashboards and alerts (ratio >= 0.9). A plain view runs with its owner's
-- rights, so it filters itself like the registry's policies do: operators
-- see every tenant, any other session its current tenant only.
-- security_barrier keeps a caller's functions from seeing rows before that
-- filter.
CREATE VIEW tenant.quota_status WITH (security_barrier) AS
WITH visible AS (
    SELECT t.id, t.slug, t.plan, t.max_members, t.max_storage_bytes, t.max_api_requests_per_month,
           p.max_members AS plan_members, p.max_storage_bytes AS plan_storage,
           p.max_api_requests_per_month AS plan_api,
           coalesce(u.members, 0) AS members, coalesce(u.storage_bytes, 0) AS storage_bytes
      FROM tenant.tenants t
      LEFT JOIN tenant.plans p ON p.id = t.plan
      LEFT JOIN LATERAL (SELECT sum(s.members)::bigint AS members, sum(s.storage_bytes)::bigint AS storage_bytes
                           FROM tenant.usage_totals s WHERE s.tenant_id = t.id) u ON true
     WHERE pg_catalog.pg_has_role('tenant_admin', 'USAGE')
        OR t.id = (SELECT @extschema@.current_tenant_id())
), quotas AS (
    SELECT v.id, v.slug, v.plan, 'members'::text AS quota, NULL::regclass AS table_name,
           v.members AS used, coalesce(v.max_members, v.plan_members) AS max_allowed
      FROM visible v
    UNION ALL
    SELECT v.id, v.slug, v.plan, 'storage_bytes', NULL,
           v.storage_bytes, coalesce(v.max_storage_bytes, v.plan_storage)
      FROM visible v
    UNION ALL
    SELECT v.id, v.slug, v.plan, 'api_requests_per_month', NULL,
           coalesce((SELECT a.api_requests FROM tenant.usage a
                      WHERE a.tenant_id = v.id
                        AND a.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date), 0),
           coalesce(v.max_api_requests_per_month, v.plan_api)
      FROM visible v
    UNION ALL
    SELECT v.id, v.slug, v.plan, 'rows', c.relid,
           coalesce(b.row_count, 0),
           coalesce(r.max_rows, (SELECT l.max_rows FROM tenant.plan_row_limits l
                                  WHERE l.plan_id = v.plan AND l.relid = c.relid))
      FROM visible v
      CROSS JOIN tenant.tables c
      LEFT JOIN LATERAL (SELECT sum(s.row_count)::bigint AS row_count FROM tenant.usage_by_table s
                          WHERE s.tenant_id = v.id AND s.relid = c.relid) b ON true
      LEFT JOIN tenant.row_limits r ON r.tenant_id = v.id AND r.relid = c.relid
     WHERE c.track_usage
)
SELECT q.id AS tenant_id, q.slug, q.plan, q.quota, q.table_name, q.used, q.max_allowed,
       CASE WHEN q.max_allowed IS NULL THEN NULL
            WHEN q.max_allowed = 0 THEN 1.0
            ELSE round(q.used::numeric / q.max_allowed, 4) END AS ratio
  FROM quotas q;
COMMENT ON VIEW tenant.quota_status IS
    'pg_tenant: usage against limits, one row per tenant and quota (members, storage_bytes, api_requests_per_month, rows per table); '
    'max_allowed and ratio are NULL when unlimited, ratio 1 when the limit is 0. Operators see every tenant, other sessions their current tenant.';
REVOKE ALL ON tenant.quota_status FROM PUBLIC;
GRANT SELECT ON tenant.quota_status TO PUBLIC;


-- One row per tenant for operators. Only tenant_admin may read it: a plain view
-- runs with its owner's rights, so it must not be granted to application roles.
CREATE VIEW tenant.overview AS
SELECT t.id, t.slug, t.name, t.status, t.plan,
       (SELECT count(*) FROM tenant.members m WHERE m.tenant_id = t.id) AS members,
       (SELECT count(*) FROM tenant.members m WHERE m.tenant_id = t.id AND m.role = 'owner') AS owners,
       (SELECT count(*) FROM tenant.domains d WHERE d.tenant_id = t.id) AS domains,
       (SELECT d.domain FROM tenant.domains d WHERE d.tenant_id = t.id AND d.is_primary) AS primary_domain,
       (SELECT count(*) FROM tenant.settings s WHERE s.tenant_id = t.id) AS settings,
       t.created_at, t.updated_at, t.suspended_at, t.deleted_at
  FROM tenant.tenants t;
COMMENT ON VIEW tenant.overview IS
    'pg_tenant: one row per tenant with its member, owner, domain and setting counts (operators only).';
REVOKE ALL ON tenant.overview FROM PUBLIC;
GRANT SELECT ON tenant.overview TO tenant_admin;

-- tenant.directory: the tenants as Better Tenant's tenants table shows them,
-- for apps written for it (src/api/directory.rs). A security barrier: the
-- view reads tenant.tenants with its owner's rights, so no caller's function
-- sees a row before the view's own condition has filtered it. Every session
-- sees its current tenant; operators, and members of tenant_bypass or
-- tenant_directory that set app.bypass_rls, see every tenant not deleted.
-- Writes are for operators, through tenant_create, a rename and tenant_delete.
CREATE VIEW tenant.directory WITH (security_barrier = true) AS
SELECT t.id, t.name, t.slug, t.created_at
  FROM tenant.tenants t
 WHERE t.status <> 'deleted'
   AND (t.id = (SELECT @extschema@.current_tenant_id())
        OR (SELECT @extschema@._tenant_directory_lists_all()));
COMMENT ON VIEW tenant.directory IS
    'pg_tenant: tenants as Better Tenant''s tenants table shows them (id, name, slug, created_at). A session sees its current tenant; operators, and tenant_bypass or tenant_directory members that set app.bypass_rls, see every tenant not deleted. INSERT, UPDATE (name, slug) and DELETE are for operators and go through tenant_create, a rename and tenant_delete.';
COMMENT ON COLUMN tenant.directory.id IS 'The tenant''s id (tenant.tenants.id); kept when given on INSERT.';
COMMENT ON COLUMN tenant.directory.name IS 'The tenant''s display name.';
COMMENT ON COLUMN tenant.directory.slug IS 'The tenant''s slug; derived from the name when NULL on INSERT.';
COMMENT ON COLUMN tenant.directory.created_at IS 'When the tenant was created (the registry''s; ignored on INSERT).';
CREATE TRIGGER tenant_directory_write
    INSTEAD OF INSERT OR UPDATE OR DELETE ON tenant.directory
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_directory_write();
COMMENT ON TRIGGER tenant_directory_write ON tenant.directory IS
    'pg_tenant: carries out writes to tenant.directory (operators only): INSERT creates a tenant, UPDATE renames it, DELETE soft-deletes it.';
REVOKE ALL ON tenant.directory FROM PUBLIC;
-- Reading is for everyone (the view filters the rows). Writing, and the row
-- locks of SELECT ... FOR UPDATE/SHARE, only for operators: a lock on a
-- tenant's registry row would stall every write naming that tenant. An alias
-- view (public.tenants) reaches this one with its owner's grants, so an
-- operator or superuser owns it and grants writes on it to operators only.
GRANT SELECT ON tenant.directory TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON tenant.directory TO tenant_admin;

-- A tenant whose status changes must not stay "verified active" in this
-- session's per-transaction cache.
CREATE TRIGGER tenant_cache_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_registry_changed();
COMMENT ON TRIGGER tenant_cache_invalidate ON tenant.tenants IS
    'pg_tenant: forgets this session''s cached tenant status after any change to the registry.';
CREATE TRIGGER tenant_cache_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant.members
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_registry_changed();
COMMENT ON TRIGGER tenant_cache_invalidate ON tenant.members IS
    'pg_tenant: forgets this session''s cached member role after any change to the members.';

CREATE TRIGGER tenant_cache_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant.plans
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_registry_changed();
COMMENT ON TRIGGER tenant_cache_invalidate ON tenant.plans IS
    'pg_tenant: makes every session forget its cached limits after a plan changes.';
CREATE TRIGGER tenant_cache_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant.plan_row_limits
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_registry_changed();
COMMENT ON TRIGGER tenant_cache_invalidate ON tenant.plan_row_limits IS
    'pg_tenant: makes every session forget its cached limits after a plan row limit changes.';
CREATE TRIGGER tenant_cache_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant.row_limits
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_registry_changed();
COMMENT ON TRIGGER tenant_cache_invalidate ON tenant.row_limits IS
    'pg_tenant: makes every session forget its cached limits after a tenant row limit changes.';

-- tenant_check(): the checks are Rust (_tenant_check). This SQL function only
-- gives them the documented signature: a result column named "check" (a
-- reserved word that pgrx does not quote) and a probe_role of type name.
CREATE FUNCTION @extschema@.tenant_check(probe_role name DEFAULT NULL)
RETURNS TABLE ("check" text, object text, status text, detail text, fix text, accepted text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $check$ SELECT * FROM @extschema@._tenant_check(probe_role::text) $check$;

-- Who may call what. Context functions are for everyone (they are used inside
-- policies); management functions are for tenant_admin members.
REVOKE EXECUTE ON FUNCTION
    @extschema@.tenant_create(text, text, text, uuid, uuid),
    @extschema@.tenant_suspend(text),
    @extschema@.tenant_activate(text),
    @extschema@.tenant_delete(text),
    @extschema@.tenant_purge(text, boolean),
    @extschema@.tenant_purge_expired(interval),
    @extschema@.tenant_export(text),
    @extschema@.tenant_import(regclass, uuid, text),
    @extschema@.tenant_stats(),
    @extschema@.tenant_enable(regclass, boolean, text, boolean, boolean),
    @extschema@.tenant_enable_sql(regclass, boolean, text, boolean, boolean),
    @extschema@.tenant_disable(regclass),
    @extschema@._tenant_register_table(regclass, boolean, boolean),
    @extschema@._tenant_unregister_table(regclass),
    @extschema@.tenant_plan_set(text, text),
    @extschema@.tenant_limit_set(text, text, bigint),
    @extschema@.tenant_quota_set(text, regclass, bigint),
    @extschema@.tenant_plan_limit_set(text, text, bigint),
    @extschema@.tenant_plan_quota_set(text, regclass, bigint),
    @extschema@.tenant_governor_set(text, text, text),
    @extschema@.tenant_plan_governor_set(text, text, text),
    @extschema@.tenant_governors(text),
    @extschema@.tenant_usage_reconcile(text),
    @extschema@._tenant_usage_start(regclass),
    @extschema@._tenant_usage_stop(regclass),
    @extschema@._tenant_registry_changed(),
    @extschema@._tenant_plans_install(),
    @extschema@._tenant_plans_restore(),
    @extschema@._tenant_registry_references(),
    @extschema@._tenant_append_only(),
    @extschema@._tenant_audit(),
    @extschema@.tenant_audit_expire(interval),
    @extschema@._tenant_registry_guard(),
    @extschema@._tenant_ddl_guard(),
    @extschema@._tenant_ddl_dropped(),
    @extschema@._tenant_ddl_partitions(),
    @extschema@.tenant_check(name),
    @extschema@._tenant_check(text),
    @extschema@.tenant_assert_check(text),
    @extschema@.tenant_check_json(text),
    @extschema@.tenant_check_accept(text, text, text),
    @extschema@.tenant_check_unaccept(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.tenant_create(text, text, text, uuid, uuid),
    @extschema@.tenant_suspend(text),
    @extschema@.tenant_activate(text),
    @extschema@.tenant_delete(text),
    @extschema@.tenant_purge(text, boolean),
    @extschema@.tenant_purge_expired(interval),
    @extschema@.tenant_export(text),
    @extschema@.tenant_import(regclass, uuid, text),
    @extschema@.tenant_audit_expire(interval),
    @extschema@.tenant_stats(),
    @extschema@.tenant_enable(regclass, boolean, text, boolean, boolean),
    @extschema@.tenant_enable_sql(regclass, boolean, text, boolean, boolean),
    @extschema@.tenant_disable(regclass),
    @extschema@._tenant_register_table(regclass, boolean, boolean),
    @extschema@._tenant_unregister_table(regclass),
    @extschema@.tenant_plan_set(text, text),
    @extschema@.tenant_limit_set(text, text, bigint),
    @extschema@.tenant_quota_set(text, regclass, bigint),
    @extschema@.tenant_plan_limit_set(text, text, bigint),
    @extschema@.tenant_plan_quota_set(text, regclass, bigint),
    @extschema@.tenant_governor_set(text, text, text),
    @extschema@.tenant_plan_governor_set(text, text, text),
    @extschema@.tenant_governors(text),
    @extschema@.tenant_usage_reconcile(text),
    @extschema@._tenant_usage_start(regclass),
    @extschema@._tenant_usage_stop(regclass),
    @extschema@.tenant_check(name),
    @extschema@._tenant_check(text),
    @extschema@.tenant_assert_check(text),
    @extschema@.tenant_check_json(text),
    @extschema@.tenant_check_accept(text, text, text),
    @extschema@.tenant_check_unaccept(text, text)
TO tenant_admin;
-- A table's owner may make its own table tenant-scoped (and undo it); the
-- functions check ownership themselves (operators may do it for any table).
GRANT EXECUTE ON FUNCTION
    @extschema@.tenant_enable(regclass, boolean, text, boolean, boolean),
    @extschema@.tenant_enable_sql(regclass, boolean, text, boolean, boolean),
    @extschema@.tenant_disable(regclass),
    @extschema@._tenant_register_table(regclass, boolean, boolean),
    @extschema@._tenant_unregister_table(regclass),
    @extschema@._tenant_usage_start(regclass),
    @extschema@._tenant_usage_stop(regclass),
    @extschema@.tenant_audit_enable(regclass),
    @extschema@.tenant_audit_disable(regclass)
TO PUBLIC;

COMMENT ON FUNCTION @extschema@.current_tenant_id() IS
    'pg_tenant: the tenant of this session (app.current_tenant) as uuid, or NULL when unset. '
    'Raises 22P02 for a value that is not a UUID and 42501 for a tenant that is unknown, suspended or deleted.';
COMMENT ON FUNCTION @extschema@.current_tenant_user_id() IS
    'pg_tenant: the acting user of this session (app.current_user_id) as uuid, or NULL when unset. Raises 22P02 for a value that is not a UUID.';
COMMENT ON FUNCTION @extschema@.tenant_bypass_requested() IS
    'pg_tenant: true when the session set app.bypass_rls = on. Only grants access inside the tenant_bypass policy, which applies to members of role tenant_bypass.';
COMMENT ON FUNCTION @extschema@.tenant_create(text, text, text, uuid, uuid) IS
    'pg_tenant: creates an active tenant and returns its id (the given id, to import a tenant from another system, else a new one). The slug is derived from the name when NULL (lower-case, "-" separated, made unique).';
COMMENT ON FUNCTION @extschema@.tenant_suspend(text) IS
    'pg_tenant: suspends a tenant (by id or slug): its sessions are refused until tenant_activate; data is kept.';
COMMENT ON FUNCTION @extschema@.tenant_activate(text) IS
    'pg_tenant: reactivates a suspended tenant (by id or slug). Deleted tenants cannot be reactivated.';
COMMENT ON FUNCTION @extschema@.tenant_delete(text) IS
    'pg_tenant: soft-deletes a tenant (by id or slug): sessions are refused, data is kept until purged.';
COMMENT ON FUNCTION @extschema@.tenant_purge(text, boolean) IS
    'pg_tenant: removes a deleted tenant''s rows from every tenant-scoped table, then the tenant; proves none is left and writes an erasure record (tenant.erasures). Returns per table the rows removed and the SHA-256 of their keys. force => true purges a tenant that is not deleted.';
COMMENT ON FUNCTION @extschema@.tenant_export(text) IS
    'pg_tenant: every row of one tenant (by id or slug) as rows (seq, kind, relation, data): a header, its registry rows, its rows of every tenant-scoped table (parents first, values as text), and an end row with per-table row counts and SHA-256 digests. For operators who may SELECT every tenant-scoped table; tenant_import loads it back.';
COMMENT ON FUNCTION @extschema@.tenant_import(regclass, uuid, text) IS
    'pg_tenant: loads a tenant_export kept in a table (seq, kind, relation, data) into this database, under the exported or a new tenant id and slug; refuses a taken id or slug, a table or column this database lacks, or an export that does not match its end row, changing nothing. Returns per table the rows loaded and their SHA-256.';
COMMENT ON FUNCTION @extschema@.tenant_purge_expired(interval) IS
    'pg_tenant: purges every tenant deleted longer ago than the retention (default 30 days), each as tenant_purge does (with its erasure record); returns how many.';
COMMENT ON FUNCTION @extschema@.tenant_stats() IS
    'pg_tenant: number of tenants in total, by status and by plan (operators).';
COMMENT ON FUNCTION @extschema@.tenant_member_add(text, uuid, text) IS
    'pg_tenant: adds a user to a tenant with a role (owner, admin, member, guest). Operators, or the tenant''s admins (owners to add owners).';
COMMENT ON FUNCTION @extschema@.tenant_member_remove(text, uuid) IS
    'pg_tenant: removes a user from a tenant; the last owner cannot be removed.';
COMMENT ON FUNCTION @extschema@.tenant_member_set_role(text, uuid, text) IS
    'pg_tenant: changes a member''s role; the last owner cannot be demoted.';
COMMENT ON FUNCTION @extschema@.tenant_members(text) IS
    'pg_tenant: the members of a tenant (visible ones: the current tenant''s, or all for operators).';
COMMENT ON FUNCTION @extschema@.tenant_has_role(text) IS
    'pg_tenant: whether the current user (app.current_user_id) has at least this role in the current tenant. For policies: (SELECT tenant_has_role(''admin'')).';
COMMENT ON FUNCTION @extschema@.tenant_is_member(text, uuid) IS
    'pg_tenant: whether a user is a member of a tenant (visible ones only).';
COMMENT ON FUNCTION @extschema@.tenant_user_role(text, uuid) IS
    'pg_tenant: a user''s role in a tenant, or NULL (visible ones only).';
COMMENT ON FUNCTION @extschema@.tenant_domain_add(text, text) IS
    'pg_tenant: registers a custom domain for a tenant and returns its verification token.';
COMMENT ON FUNCTION @extschema@.tenant_domain_verify(text, text) IS
    'pg_tenant: marks a domain verified when the token matches; a tenant''s first verified domain becomes primary.';
COMMENT ON FUNCTION @extschema@.tenant_domain_remove(text) IS
    'pg_tenant: removes a custom domain.';
COMMENT ON FUNCTION @extschema@.tenant_domain_set_primary(text) IS
    'pg_tenant: makes a verified domain its tenant''s primary domain (one per tenant).';
COMMENT ON FUNCTION @extschema@.tenant_setting_set(text, text, jsonb) IS
    'pg_tenant: sets a tenant setting under a dotted key (branding.logo_url).';
COMMENT ON FUNCTION @extschema@.tenant_setting_get(text) IS
    'pg_tenant: the current tenant''s setting for a key (a nested object for a key prefix), or NULL.';
COMMENT ON FUNCTION @extschema@.tenant_setting_unset(text, text) IS
    'pg_tenant: removes a setting and any settings nested under it; returns whether anything was removed.';
COMMENT ON FUNCTION @extschema@.tenant_settings(text) IS
    'pg_tenant: all settings of a tenant as one nested JSON document.';
COMMENT ON FUNCTION @extschema@.tenant_resolve(text, text, text, text) IS
    'pg_tenant: the active tenant a request names: explicit id, then slug, then verified custom domain, then <slug>.<base_domain>; NULL when none.';
COMMENT ON FUNCTION @extschema@.tenant_set(text) IS
    'pg_tenant: sets app.current_tenant to an active tenant (id or slug) for the current transaction and returns its id.';
COMMENT ON FUNCTION @extschema@.tenant_set(uuid) IS
    'pg_tenant: sets app.current_tenant to an active tenant, given as a uuid (a native UUID parameter of a driver), for the current transaction and returns its id.';
COMMENT ON FUNCTION @extschema@.tenant_set_token(text) IS
    'pg_tenant: verifies a signed JWT against pg_tenant.jwt_keys and sets app.current_tenant (its tenant claim) and app.current_user_id (sub) for the current transaction; returns the tenant. PT003 for a token it refuses, PT004 for one expired or not valid yet.';
COMMENT ON FUNCTION @extschema@.tenant_error_codes() IS
    'pg_tenant: the refusals an application maps to a response: SQLSTATE (class PT), name, the HTTP status an API answers, when it is raised.';
COMMENT ON FUNCTION @extschema@.tenant_enable(regclass, boolean, text, boolean, boolean) IS
    'pg_tenant: makes a table tenant-scoped (tenant_id uuid NOT NULL with a foreign key, RLS enabled and forced, policies, fill trigger, index, registry row, usage triggers unless track_usage => false). '
    'Idempotent; returns the SQL it ran.';
COMMENT ON FUNCTION @extschema@.tenant_enable_sql(regclass, boolean, text, boolean, boolean) IS
    'pg_tenant: the exact SQL that tenant_enable would run with the same arguments, without running it (for migration files and review).';
COMMENT ON FUNCTION @extschema@.tenant_enable_script(regclass, boolean, text, boolean, boolean) IS
    'pg_tenant: a complete, idempotent script for a migration file (the tenant_enable call with every option), correct whatever state the table is in where it runs.';
COMMENT ON FUNCTION @extschema@.tenant_disable(regclass) IS
    'pg_tenant: undoes tenant_enable: drops its policies and trigger, turns RLS off when no other policy remains, unregisters the table. '
    'Keeps the tenant_id column, its foreign key, its index and the data. Returns the SQL it ran.';
COMMENT ON FUNCTION @extschema@.tenant_check(name) IS
    'pg_tenant: finds known ways RLS multi-tenancy leaks; one row per finding (check, object, status ok/warn/fail, detail, fix SQL, accepted: the reason when an operator accepted it). '
    'With probe_role, also writes and reads as that role in a subtransaction that is always rolled back.';
COMMENT ON FUNCTION @extschema@._tenant_check(text) IS
    'pg_tenant internal: the rows of tenant_check (its column check_name is tenant_check''s "check").';
COMMENT ON FUNCTION @extschema@.tenant_assert_check(text) IS
    'pg_tenant: raises 23514 listing every failing tenant_check finding that is not accepted; otherwise returns a summary. For CI and migrations.';
COMMENT ON FUNCTION @extschema@.tenant_check_json(text) IS
    'pg_tenant: the tenant_check report as one jsonb document for CI: server, summary (counts, accepted, new_failures, passed) and every finding with its acceptance.';
COMMENT ON FUNCTION @extschema@.tenant_check_accept(text, text, text) IS
    'pg_tenant: accepts, with a reason, a warn or fail finding tenant_check reports now, so tenant_assert_check no longer fails on it. Operators only.';
COMMENT ON FUNCTION @extschema@.tenant_check_unaccept(text, text) IS
    'pg_tenant: removes the acceptance of a tenant_check finding; returns whether there was one. Operators only.';
COMMENT ON FUNCTION @extschema@.tenant_set_id() IS
    'pg_tenant: BEFORE INSERT trigger that fills tenant_id from app.current_tenant and refuses a row when no tenant is in context.';
COMMENT ON FUNCTION @extschema@._tenant_register_table(regclass, boolean, boolean) IS
    'pg_tenant internal: records a table in tenant.tables (called by the SQL of tenant_enable; the caller must own the table).';
COMMENT ON FUNCTION @extschema@._tenant_unregister_table(regclass) IS
    'pg_tenant internal: removes a table from tenant.tables (called by the SQL of tenant_disable; the caller must own the table).';
COMMENT ON FUNCTION @extschema@._tenant_directory_lists_all() IS
    'pg_tenant internal: whether tenant.directory lists every tenant for this session (an operator, or a tenant_bypass or tenant_directory member that set app.bypass_rls).';
COMMENT ON FUNCTION @extschema@._tenant_may_read_audited(text) IS
    'pg_tenant internal: whether the session may SELECT the audited table an entry of tenant.audit_log names (the log''s read policy asks per entry; false for a table gone or renamed).';
COMMENT ON FUNCTION @extschema@._tenant_operator_reads() IS
    'pg_tenant internal: whether the registry''s tenant_admin_read and tenant_admin_write policies apply to this session: the role asking and the session''s role outside SECURITY DEFINER functions are both operators (not a reader of an operator''s view).';
COMMENT ON FUNCTION @extschema@._tenant_directory_write() IS
    'pg_tenant internal: the INSTEAD OF trigger of tenant.directory (operators only): INSERT = tenant_create, UPDATE = rename, DELETE = tenant_delete.';
COMMENT ON FUNCTION @extschema@._tenant_registry_changed() IS
    'pg_tenant internal: statement trigger on tenant.tenants, tenant.members, tenant.plans and the row-limit tables that makes every session forget its cached tenant status, member roles and limits.';

COMMENT ON FUNCTION @extschema@.tenant_plan_set(text, text) IS
    'pg_tenant: moves a tenant (id or slug) to a plan of tenant.plans (NULL: no plan). Operators.';
COMMENT ON FUNCTION @extschema@.tenant_limit_set(text, text, bigint) IS
    'pg_tenant: the tenant''s own limit for members, storage_bytes or api_requests_per_month; NULL goes back to the plan''s. Operators.';
COMMENT ON FUNCTION @extschema@.tenant_quota_set(text, regclass, bigint) IS
    'pg_tenant: the tenant''s own row limit for a tenant-scoped table; NULL goes back to the plan''s. Operators.';
COMMENT ON FUNCTION @extschema@.tenant_plan_limit_set(text, text, bigint) IS
    'pg_tenant: a plan''s limit for members, storage_bytes or api_requests_per_month; NULL means unlimited. Operators.';
COMMENT ON FUNCTION @extschema@.tenant_plan_quota_set(text, regclass, bigint) IS
    'pg_tenant: a plan''s row limit for a tenant-scoped table; NULL means unlimited. Operators.';
COMMENT ON FUNCTION @extschema@.tenant_governor_set(text, text, text) IS
    'pg_tenant: the tenant''s own value of a governor (statement_timeout, lock_timeout, idle_in_transaction_session_timeout, work_mem, max_transactions), read with units (''5s'', ''64MB''); NULL goes back to the plan''s. Returns the tenant''s own governors. Operators.';
COMMENT ON FUNCTION @extschema@.tenant_plan_governor_set(text, text, text) IS
    'pg_tenant: a plan''s value of a governor, read with units; NULL removes it. Returns the plan''s governors. Operators.';
COMMENT ON FUNCTION @extschema@.tenant_governors(text) IS
    'pg_tenant: the governors in force for a tenant''s transactions (value in its unit, and whether the plan or the tenant sets it). Operators.';
COMMENT ON FUNCTION @extschema@._tenant_governors_valid(jsonb) IS
    'pg_tenant internal: CHECK of tenant.plans.governors and tenant.tenants.governors; raises 23514 saying what is wrong.';
ALTER TABLE tenant.plans ADD CONSTRAINT plans_governors_valid CHECK (@extschema@._tenant_governors_valid(governors));
COMMENT ON CONSTRAINT plans_governors_valid ON tenant.plans IS
    'pg_tenant: governors are an object of known governors with integer values in range.';
ALTER TABLE tenant.tenants ADD CONSTRAINT tenants_governors_valid CHECK (@extschema@._tenant_governors_valid(governors));
COMMENT ON CONSTRAINT tenants_governors_valid ON tenant.tenants IS
    'pg_tenant: governors are an object of known governors with integer values in range.';
COMMENT ON FUNCTION @extschema@.tenant_usage_reconcile(text) IS
    'pg_tenant: recomputes the usage counters of one tenant (or all, with NULL) from the tables; returns the counters it corrected. Operators; READ COMMITTED.';
COMMENT ON FUNCTION @extschema@.tenant_storage_used(text) IS
    'pg_tenant: the tenant''s bytes across the tables that count usage (values'' uncompressed size + 24 per row), from the counters.';
COMMENT ON FUNCTION @extschema@.tenant_record_api_request(integer) IS
    'pg_tenant: counts n API requests for the current tenant this month (UTC) and returns the count; raises 53400 past the limit, counting nothing.';
COMMENT ON FUNCTION @extschema@.tenant_check_api_quota(text) IS
    'pg_tenant: whether the tenant may make another API request this month (true when unlimited).';
COMMENT ON FUNCTION @extschema@.tenant_count_usage() IS
    'pg_tenant: AFTER ... FOR EACH STATEMENT trigger (with transition tables) that counts rows and bytes per tenant and raises 53400 past a quota.';
COMMENT ON FUNCTION @extschema@._tenant_usage_start(regclass) IS
    'pg_tenant internal: counts a table''s existing rows per tenant and marks it as counting usage (called by the SQL of tenant_enable).';
COMMENT ON FUNCTION @extschema@._tenant_usage_stop(regclass) IS
    'pg_tenant internal: removes a table''s usage counters (called by the SQL of tenant_enable(track_usage => false)).';
-- _tenant_row_bytes keeps PUBLIC's EXECUTE: reconciliation and tenant_enable
-- count a table's rows as the table's owner (never as the registry owner),
-- and it only measures the row value it is given.
COMMENT ON FUNCTION @extschema@._tenant_row_bytes(anyelement) IS
    'pg_tenant internal: the bytes a whole row counts for in the storage quota (used by reconciliation, run as the table''s owner).';
COMMENT ON FUNCTION @extschema@._tenant_plans_install() IS
    'pg_tenant internal: inserts the default plans free, pro and enterprise (run by CREATE EXTENSION).';
COMMENT ON FUNCTION @extschema@._tenant_registry_references() IS
    'pg_tenant internal: BEFORE INSERT trigger on registry tables; refuses a row whose tenant, plan or table (arguments column=table) the registry does not have.';
COMMENT ON FUNCTION @extschema@._tenant_audit() IS
    'pg_tenant internal: AFTER ... FOR EACH STATEMENT trigger of audited tables (arguments: the primary key''s columns); records the statement''s rows in tenant.audit_log.';
COMMENT ON FUNCTION @extschema@.tenant_audit_enable(regclass) IS
    'pg_tenant: records every insert, update and delete of a tenant-scoped table (with a primary key) into tenant.audit_log, in the writing transaction. For the table''s owner or an operator.';
COMMENT ON FUNCTION @extschema@.tenant_audit_disable(regclass) IS
    'pg_tenant: stops auditing a table (removes its audit triggers; the log keeps its entries). For the table''s owner or an operator.';
COMMENT ON FUNCTION @extschema@.tenant_audit_expire(interval) IS
    'pg_tenant: removes audit entries older than the given age; returns how many. Operators only.';
COMMENT ON FUNCTION @extschema@._tenant_append_only() IS
    'pg_tenant internal: BEFORE UPDATE/DELETE/TRUNCATE trigger of tenant.erasures and tenant.bypass_log; refuses every change (42501).';
COMMENT ON FUNCTION @extschema@._tenant_registry_guard() IS
    'pg_tenant internal: event trigger function of tenant_registry_guard; refuses to disable the triggers of registry tables.';
COMMENT ON FUNCTION @extschema@._tenant_ddl_guard() IS
    'pg_tenant internal: event trigger function of tenant_ddl_guard; refuses or warns about DDL that weakens a tenant-scoped table.';
COMMENT ON FUNCTION @extschema@._tenant_ddl_dropped() IS
    'pg_tenant internal: event trigger function of tenant_ddl_dropped; removes dropped tables from the registry.';
COMMENT ON FUNCTION @extschema@._tenant_ddl_partitions() IS
    'pg_tenant internal: event trigger function of tenant_ddl_partitions; makes new partitions of tenant-scoped tables, and tables pg_tenant.auto_enable applies to, tenant-scoped.';
COMMENT ON FUNCTION @extschema@._tenant_plans_restore() IS
    'pg_tenant internal: BEFORE INSERT trigger on tenant.plans that lets a restored dump replace a default plan still as installed.';

-- Per-tenant statistics (shared memory; needs shared_preload_libraries).
CREATE VIEW tenant.stat_tenants AS
SELECT s.tenant_id, t.slug, s.period, s.period_start,
       s.statements, s.rows_returned, s.rows_written, s.exec_time_ms,
       rank() OVER (PARTITION BY s.period ORDER BY s.statements DESC) AS rank_statements,
       rank() OVER (PARTITION BY s.period ORDER BY s.rows_returned DESC) AS rank_rows_returned,
       rank() OVER (PARTITION BY s.period ORDER BY s.rows_written DESC) AS rank_rows_written,
       rank() OVER (PARTITION BY s.period ORDER BY s.exec_time_ms DESC) AS rank_exec_time,
       s.score
  FROM @extschema@._tenant_stat_tenants() s
  LEFT JOIN tenant.tenants t ON t.id OPERATOR(pg_catalog.=) s.tenant_id;
COMMENT ON VIEW tenant.stat_tenants IS
    'pg_tenant: per tracked tenant, statements, rows returned and written and execution time of its top-level statements in the current and the last period (pg_tenant.stat_period), with each tenant''s rank by each; kept in shared memory (needs shared_preload_libraries). Operators.';
REVOKE ALL ON tenant.stat_tenants FROM PUBLIC;
GRANT SELECT ON tenant.stat_tenants TO tenant_admin;
REVOKE EXECUTE ON FUNCTION @extschema@._tenant_stat_tenants(), @extschema@.tenant_stat_reset() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._tenant_stat_tenants(), @extschema@.tenant_stat_reset() TO tenant_admin;
COMMENT ON FUNCTION @extschema@._tenant_stat_tenants() IS
    'pg_tenant internal: the rows of tenant.stat_tenants, read from shared memory (55000 without shared_preload_libraries).';
COMMENT ON FUNCTION @extschema@.tenant_stat_reset() IS
    'pg_tenant: forgets this database''s per-tenant statistics (tenant.stat_tenants); returns how many tenants were tracked. Operators.';
