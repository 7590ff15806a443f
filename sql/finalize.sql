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

-- A tenant whose status changes must not stay "verified active" in this
-- session's per-transaction cache.
CREATE TRIGGER tenant_cache_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_registry_changed();
COMMENT ON TRIGGER tenant_cache_invalidate ON tenant.tenants IS
    'pg_tenant: forgets this session''s cached tenant status after any change to the registry.';

-- Who may call what. Context functions are for everyone (they are used inside
-- policies); management functions are for tenant_admin members.
REVOKE EXECUTE ON FUNCTION
    @extschema@.tenant_create(text, text, text, uuid),
    @extschema@.tenant_enable(regclass, boolean, text, boolean),
    @extschema@.tenant_enable_sql(regclass, boolean, text, boolean),
    @extschema@.tenant_disable(regclass),
    @extschema@._tenant_register_table(regclass, boolean, boolean),
    @extschema@._tenant_unregister_table(regclass),
    @extschema@._tenant_registry_changed()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.tenant_create(text, text, text, uuid),
    @extschema@.tenant_enable(regclass, boolean, text, boolean),
    @extschema@.tenant_enable_sql(regclass, boolean, text, boolean),
    @extschema@.tenant_disable(regclass),
    @extschema@._tenant_register_table(regclass, boolean, boolean),
    @extschema@._tenant_unregister_table(regclass)
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
COMMENT ON FUNCTION @extschema@.tenant_enable(regclass, boolean, text, boolean) IS
    'pg_tenant: makes a table tenant-scoped (tenant_id uuid NOT NULL with a foreign key, RLS enabled and forced, policies, fill trigger, index, registry row). '
    'Idempotent; returns the SQL it ran.';
COMMENT ON FUNCTION @extschema@.tenant_enable_sql(regclass, boolean, text, boolean) IS
    'pg_tenant: the exact SQL that tenant_enable would run with the same arguments, without running it (for migration files and review).';
COMMENT ON FUNCTION @extschema@.tenant_disable(regclass) IS
    'pg_tenant: undoes tenant_enable: drops its policies and trigger, turns RLS off when no other policy remains, unregisters the table. '
    'Keeps the tenant_id column, its foreign key, its index and the data. Returns the SQL it ran.';
COMMENT ON FUNCTION @extschema@.tenant_set_id() IS
    'pg_tenant: BEFORE INSERT trigger that fills tenant_id from app.current_tenant and refuses a row when no tenant is in context.';
COMMENT ON FUNCTION @extschema@._tenant_register_table(regclass, boolean, boolean) IS
    'pg_tenant internal: records a table in tenant.tables (called by the SQL of tenant_enable; the caller must own the table).';
COMMENT ON FUNCTION @extschema@._tenant_unregister_table(regclass) IS
    'pg_tenant internal: removes a table from tenant.tables (called by the SQL of tenant_disable; the caller must own the table).';
COMMENT ON FUNCTION @extschema@._tenant_registry_changed() IS
    'pg_tenant internal: statement trigger on tenant.tenants that clears the session''s cached tenant status.';
