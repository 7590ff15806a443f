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
    USING (true);
COMMENT ON POLICY tenant_admin_read ON tenant.tenants IS
    'pg_tenant: members of tenant_admin list every tenant.';

-- tenant.tables holds no tenant data (table names and options): readable by all.
CREATE POLICY tenant_tables_read ON tenant.tables
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (true);
COMMENT ON POLICY tenant_tables_read ON tenant.tables IS
    'pg_tenant: which tables are tenant-scoped is not secret; writes go through tenant_enable/tenant_disable.';

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
    USING (true);
COMMENT ON POLICY tenant_admin_read ON tenant.members IS
    'pg_tenant: members of tenant_admin see every tenant''s members.';
CREATE POLICY tenant_isolation ON tenant.domains
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.domains IS
    'pg_tenant: a session sees the domains of the tenant in app.current_tenant (without their tokens).';
CREATE POLICY tenant_admin_read ON tenant.domains
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING (true);
COMMENT ON POLICY tenant_admin_read ON tenant.domains IS
    'pg_tenant: members of tenant_admin see every tenant''s domains.';
CREATE POLICY tenant_isolation ON tenant.settings
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.settings IS
    'pg_tenant: a session sees the settings of the tenant in app.current_tenant.';
CREATE POLICY tenant_admin_read ON tenant.settings
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING (true);
COMMENT ON POLICY tenant_admin_read ON tenant.settings IS
    'pg_tenant: members of tenant_admin see every tenant''s settings.';

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

-- tenant_check(): the checks are Rust (_tenant_check). This SQL function only
-- gives them the documented signature: a result column named "check" (a
-- reserved word that pgrx does not quote) and a probe_role of type name.
CREATE FUNCTION @extschema@.tenant_check(probe_role name DEFAULT NULL)
RETURNS TABLE ("check" text, object text, status text, detail text, fix text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $check$ SELECT * FROM @extschema@._tenant_check(probe_role::text) $check$;

-- Who may call what. Context functions are for everyone (they are used inside
-- policies); management functions are for tenant_admin members.
REVOKE EXECUTE ON FUNCTION
    @extschema@.tenant_create(text, text, text, uuid),
    @extschema@.tenant_suspend(text),
    @extschema@.tenant_activate(text),
    @extschema@.tenant_delete(text),
    @extschema@.tenant_purge(text, boolean),
    @extschema@.tenant_purge_expired(interval),
    @extschema@.tenant_stats(),
    @extschema@.tenant_enable(regclass, boolean, text, boolean),
    @extschema@.tenant_enable_sql(regclass, boolean, text, boolean),
    @extschema@.tenant_disable(regclass),
    @extschema@._tenant_register_table(regclass, boolean, boolean),
    @extschema@._tenant_unregister_table(regclass),
    @extschema@._tenant_registry_changed(),
    @extschema@.tenant_check(name),
    @extschema@._tenant_check(text),
    @extschema@.tenant_assert_check(text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.tenant_create(text, text, text, uuid),
    @extschema@.tenant_suspend(text),
    @extschema@.tenant_activate(text),
    @extschema@.tenant_delete(text),
    @extschema@.tenant_purge(text, boolean),
    @extschema@.tenant_purge_expired(interval),
    @extschema@.tenant_stats(),
    @extschema@.tenant_enable(regclass, boolean, text, boolean),
    @extschema@.tenant_enable_sql(regclass, boolean, text, boolean),
    @extschema@.tenant_disable(regclass),
    @extschema@._tenant_register_table(regclass, boolean, boolean),
    @extschema@._tenant_unregister_table(regclass),
    @extschema@.tenant_check(name),
    @extschema@._tenant_check(text),
    @extschema@.tenant_assert_check(text)
TO tenant_admin;

COMMENT ON FUNCTION @extschema@.current_tenant_id() IS
    'pg_tenant: the tenant of this session (app.current_tenant) as uuid, or NULL when unset. '
    'Raises 22P02 for a value that is not a UUID and 42501 for a tenant that is unknown, suspended or deleted.';
COMMENT ON FUNCTION @extschema@.current_tenant_user_id() IS
    'pg_tenant: the acting user of this session (app.current_user_id) as uuid, or NULL when unset. Raises 22P02 for a value that is not a UUID.';
COMMENT ON FUNCTION @extschema@.tenant_bypass_requested() IS
    'pg_tenant: true when the session set app.bypass_rls = on. Only grants access inside the tenant_bypass policy, which applies to members of role tenant_bypass.';
COMMENT ON FUNCTION @extschema@.tenant_create(text, text, text, uuid) IS
    'pg_tenant: creates an active tenant and returns its id. The slug is derived from the name when NULL (lower-case, "-" separated, made unique).';
COMMENT ON FUNCTION @extschema@.tenant_suspend(text) IS
    'pg_tenant: suspends a tenant (by id or slug): its sessions are refused until tenant_activate; data is kept.';
COMMENT ON FUNCTION @extschema@.tenant_activate(text) IS
    'pg_tenant: reactivates a suspended tenant (by id or slug). Deleted tenants cannot be reactivated.';
COMMENT ON FUNCTION @extschema@.tenant_delete(text) IS
    'pg_tenant: soft-deletes a tenant (by id or slug): sessions are refused, data is kept until purged.';
COMMENT ON FUNCTION @extschema@.tenant_purge(text, boolean) IS
    'pg_tenant: removes a deleted tenant''s rows from every tenant-scoped table, then the tenant; force => true purges a tenant that is not deleted.';
COMMENT ON FUNCTION @extschema@.tenant_purge_expired(interval) IS
    'pg_tenant: purges every tenant deleted longer ago than the retention (default 30 days); returns how many.';
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
COMMENT ON FUNCTION @extschema@.tenant_enable(regclass, boolean, text, boolean) IS
    'pg_tenant: makes a table tenant-scoped (tenant_id uuid NOT NULL with a foreign key, RLS enabled and forced, policies, fill trigger, index, registry row). '
    'Idempotent; returns the SQL it ran.';
COMMENT ON FUNCTION @extschema@.tenant_enable_sql(regclass, boolean, text, boolean) IS
    'pg_tenant: the exact SQL that tenant_enable would run with the same arguments, without running it (for migration files and review).';
COMMENT ON FUNCTION @extschema@.tenant_disable(regclass) IS
    'pg_tenant: undoes tenant_enable: drops its policies and trigger, turns RLS off when no other policy remains, unregisters the table. '
    'Keeps the tenant_id column, its foreign key, its index and the data. Returns the SQL it ran.';
COMMENT ON FUNCTION @extschema@.tenant_check(name) IS
    'pg_tenant: finds known ways RLS multi-tenancy leaks; one row per finding (check, object, status ok/warn/fail, detail, fix SQL). '
    'With probe_role, also writes and reads as that role in a subtransaction that is always rolled back.';
COMMENT ON FUNCTION @extschema@._tenant_check(text) IS
    'pg_tenant internal: the rows of tenant_check (its column check_name is tenant_check''s "check").';
COMMENT ON FUNCTION @extschema@.tenant_assert_check(text) IS
    'pg_tenant: raises 23514 listing every failing tenant_check finding; otherwise returns a summary. For CI and migrations.';
COMMENT ON FUNCTION @extschema@.tenant_set_id() IS
    'pg_tenant: BEFORE INSERT trigger that fills tenant_id from app.current_tenant and refuses a row when no tenant is in context.';
COMMENT ON FUNCTION @extschema@._tenant_register_table(regclass, boolean, boolean) IS
    'pg_tenant internal: records a table in tenant.tables (called by the SQL of tenant_enable; the caller must own the table).';
COMMENT ON FUNCTION @extschema@._tenant_unregister_table(regclass) IS
    'pg_tenant internal: removes a table from tenant.tables (called by the SQL of tenant_disable; the caller must own the table).';
COMMENT ON FUNCTION @extschema@._tenant_registry_changed() IS
    'pg_tenant internal: statement trigger on tenant.tenants and tenant.members that clears the session''s cached tenant status and member role.';
