-- pg_tenant 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_tenant UPDATE).
-- Restores that fail loudly: a BEFORE INSERT trigger on the registry tables
-- that name a tenant, plan or table, and an event trigger that keeps the
-- registry's triggers enabled; tenant_set_token, a tenant context proven by
-- a signed token; tenant_set(uuid) and tenant_error_codes() (SQLSTATEs of
-- class PT); the DDL guard's event triggers tenant_ddl_guard and
-- tenant_ddl_dropped (rows of tables dropped before it: tenant_check reports
-- them with the fix); governors (tenant_governor_set, tenant_plan_governor_set,
-- tenant_governors); per-tenant statistics (tenant.stat_tenants,
-- tenant_stat_reset); usage counters split over stripes (a stripe column in
-- the primary keys of tenant.usage_totals and tenant.usage_by_table, and
-- tenant.quota_status summing them). tests/upgrade/run.sh checks that an updated
-- database equals a fresh install of 0.2.0.
\echo Use "ALTER EXTENSION pg_tenant UPDATE" to load this file. \quit

CREATE FUNCTION @extschema@.tenant_set_token("token" text) RETURNS uuid
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_set_token_wrapper';
COMMENT ON FUNCTION @extschema@.tenant_set_token(text) IS
    'pg_tenant: verifies a signed JWT against pg_tenant.jwt_keys and sets app.current_tenant (its tenant claim) and app.current_user_id (sub) for the current transaction; returns the tenant. PT003 for a token it refuses, PT004 for one expired or not valid yet.';
CREATE FUNCTION @extschema@.tenant_set("t" uuid) RETURNS uuid
    VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_set_uuid_wrapper';
COMMENT ON FUNCTION @extschema@.tenant_set(uuid) IS
    'pg_tenant: sets app.current_tenant to an active tenant, given as a uuid (a native UUID parameter of a driver), for the current transaction and returns its id.';
CREATE FUNCTION @extschema@.tenant_error_codes() RETURNS TABLE (
    "sqlstate" text, "refusal" text, "http_status" int, "meaning" text)
    IMMUTABLE STRICT PARALLEL RESTRICTED
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_error_codes_wrapper';
COMMENT ON FUNCTION @extschema@.tenant_error_codes() IS
    'pg_tenant: the refusals an application maps to a response: SQLSTATE (class PT), name, the HTTP status an API answers, when it is raised.';
CREATE FUNCTION @extschema@._tenant_registry_references() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_registry_references';
CREATE FUNCTION @extschema@._tenant_registry_guard() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_registry_guard';
CREATE FUNCTION @extschema@._tenant_ddl_guard() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_ddl_guard';
CREATE FUNCTION @extschema@._tenant_ddl_dropped() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_ddl_dropped';
CREATE FUNCTION @extschema@._tenant_ddl_partitions() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_ddl_partitions';
REVOKE EXECUTE ON FUNCTION
    @extschema@._tenant_registry_references(),
    @extschema@._tenant_registry_guard(),
    @extschema@._tenant_ddl_guard(),
    @extschema@._tenant_ddl_dropped(),
    @extschema@._tenant_ddl_partitions()
FROM PUBLIC;
COMMENT ON FUNCTION @extschema@._tenant_ddl_guard() IS
    'pg_tenant internal: event trigger function of tenant_ddl_guard; refuses or warns about DDL that weakens a tenant-scoped table.';
COMMENT ON FUNCTION @extschema@._tenant_ddl_dropped() IS
    'pg_tenant internal: event trigger function of tenant_ddl_dropped; removes dropped tables from the registry.';
COMMENT ON FUNCTION @extschema@._tenant_ddl_partitions() IS
    'pg_tenant internal: event trigger function of tenant_ddl_partitions; makes new partitions of tenant-scoped tables, and tables pg_tenant.auto_enable applies to, tenant-scoped.';
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
COMMENT ON FUNCTION @extschema@._tenant_registry_references() IS
    'pg_tenant internal: BEFORE INSERT trigger on registry tables; refuses a row whose tenant, plan or table (arguments column=table) the registry does not have.';
COMMENT ON FUNCTION @extschema@._tenant_registry_guard() IS
    'pg_tenant internal: event trigger function of tenant_registry_guard; refuses to disable the triggers of registry tables.';

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

-- A table's owner may make its own table tenant-scoped (and undo it); the
-- functions check ownership themselves (operators may do it for any table).
GRANT EXECUTE ON FUNCTION
    @extschema@.tenant_enable(regclass, boolean, text, boolean, boolean),
    @extschema@.tenant_enable_sql(regclass, boolean, text, boolean, boolean),
    @extschema@.tenant_disable(regclass),
    @extschema@._tenant_register_table(regclass, boolean, boolean),
    @extschema@._tenant_unregister_table(regclass),
    @extschema@._tenant_usage_start(regclass),
    @extschema@._tenant_usage_stop(regclass)
TO PUBLIC;

-- The registration functions check the role that calls them and switch to
-- the registry's owner themselves: SECURITY DEFINER lost the caller, and the
-- session's role passed for another role's code running in its session.
ALTER FUNCTION @extschema@._tenant_register_table(regclass, boolean, boolean) SECURITY INVOKER;
ALTER FUNCTION @extschema@._tenant_unregister_table(regclass) SECURITY INVOKER;
ALTER FUNCTION @extschema@._tenant_usage_start(regclass) SECURITY INVOKER;
ALTER FUNCTION @extschema@._tenant_usage_stop(regclass) SECURITY INVOKER;

CREATE FUNCTION @extschema@.tenant_enable_script("tbl" regclass, "add_column" bool DEFAULT false,
        "backfill_tenant" text DEFAULT NULL, "create_index" bool DEFAULT true, "track_usage" bool DEFAULT true)
    RETURNS text STABLE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_enable_script_wrapper';
COMMENT ON FUNCTION @extschema@.tenant_enable_script(regclass, boolean, text, boolean, boolean) IS
    'pg_tenant: a complete, idempotent script for a migration file (the tenant_enable call with every option), correct whatever state the table is in where it runs.';

-- tenant_check: accepted findings (tenant.check_acceptances, tenant_check_accept,
-- tenant_check_unaccept; the new column "accepted"), and the JSON report.
CREATE TABLE tenant.check_acceptances (
    check_name  text        NOT NULL,
    object      text        NOT NULL,
    status      text        NOT NULL CONSTRAINT check_acceptances_status CHECK (status IN ('warn', 'fail')),
    detail      text        NOT NULL,
    reason      text        NOT NULL CONSTRAINT check_acceptances_reason CHECK (btrim(reason) <> ''),
    accepted_by name        NOT NULL DEFAULT current_user,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (check_name, object)
);
COMMENT ON TABLE tenant.check_acceptances IS
    'pg_tenant: tenant_check findings an operator accepted with a reason (tenant_check_accept); tenant_assert_check does not fail on them.';
COMMENT ON COLUMN tenant.check_acceptances.check_name IS 'The finding''s check, as tenant_check names it.';
COMMENT ON COLUMN tenant.check_acceptances.object IS 'The finding''s object, exactly as tenant_check reports it.';
COMMENT ON COLUMN tenant.check_acceptances.status IS 'The finding''s status when it was accepted; a finding whose status or detail changed since is not accepted.';
COMMENT ON COLUMN tenant.check_acceptances.detail IS 'The finding''s detail when it was accepted.';
COMMENT ON COLUMN tenant.check_acceptances.reason IS 'Why the finding is accepted.';
COMMENT ON COLUMN tenant.check_acceptances.accepted_by IS 'The operator who accepted it.';
COMMENT ON COLUMN tenant.check_acceptances.accepted_at IS 'When it was accepted (or its reason last replaced).';
-- Owned like the rest of the registry (tenant_check_accept writes it as that owner).
DO $owner$
BEGIN
    EXECUTE pg_catalog.format('ALTER TABLE tenant.check_acceptances OWNER TO %I',
        (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c
          WHERE c.oid = 'tenant.tenants'::pg_catalog.regclass));
END
$owner$;
SELECT pg_catalog.pg_extension_config_dump('tenant.check_acceptances', '');
ALTER TABLE tenant.check_acceptances ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.check_acceptances FORCE ROW LEVEL SECURITY;
REVOKE ALL ON tenant.check_acceptances FROM PUBLIC;
GRANT SELECT ON tenant.check_acceptances TO tenant_admin;
CREATE POLICY tenant_admin_read ON tenant.check_acceptances
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING (true);
COMMENT ON POLICY tenant_admin_read ON tenant.check_acceptances IS
    'pg_tenant: members of tenant_admin see the accepted tenant_check findings.';

DROP FUNCTION @extschema@.tenant_check(name);
DROP FUNCTION @extschema@._tenant_check(text);
CREATE FUNCTION @extschema@._tenant_check("probe_role" text DEFAULT NULL)
    RETURNS TABLE ("check_name" text, "object" text, "status" text, "detail" text, "fix" text, "accepted" text)
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_check_wrapper';
CREATE FUNCTION @extschema@.tenant_check(probe_role name DEFAULT NULL)
RETURNS TABLE ("check" text, object text, status text, detail text, fix text, accepted text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $check$ SELECT * FROM @extschema@._tenant_check(probe_role::text) $check$;
CREATE FUNCTION @extschema@.tenant_check_json("probe_role" text DEFAULT NULL) RETURNS jsonb
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_check_json_wrapper';
CREATE FUNCTION @extschema@.tenant_check_accept("check_name" text, "object" text, "reason" text) RETURNS text
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_check_accept_wrapper';
CREATE FUNCTION @extschema@.tenant_check_unaccept("check_name" text, "object" text) RETURNS bool
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_check_unaccept_wrapper';
REVOKE EXECUTE ON FUNCTION
    @extschema@.tenant_check(name),
    @extschema@._tenant_check(text),
    @extschema@.tenant_check_json(text),
    @extschema@.tenant_check_accept(text, text, text),
    @extschema@.tenant_check_unaccept(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.tenant_check(name),
    @extschema@._tenant_check(text),
    @extschema@.tenant_check_json(text),
    @extschema@.tenant_check_accept(text, text, text),
    @extschema@.tenant_check_unaccept(text, text)
TO tenant_admin;
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

-- tenant_create gets a fifth argument, id: a tenant's id kept from another
-- system (adopting a Better Tenant database whose data already names it).
DROP FUNCTION @extschema@.tenant_create(text, text, text, uuid);
CREATE FUNCTION @extschema@.tenant_create("name" text, "slug" text DEFAULT NULL, "plan" text DEFAULT NULL,
                                         "owner" uuid DEFAULT NULL, "id" uuid DEFAULT NULL) RETURNS uuid
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_create_wrapper';
REVOKE EXECUTE ON FUNCTION @extschema@.tenant_create(text, text, text, uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.tenant_create(text, text, text, uuid, uuid) TO tenant_admin;
COMMENT ON FUNCTION @extschema@.tenant_create(text, text, text, uuid, uuid) IS
    'pg_tenant: creates an active tenant and returns its id (the given id, to import a tenant from another system, else a new one). The slug is derived from the name when NULL (lower-case, "-" separated, made unique).';

-- tenant.directory: the tenants as Better Tenant's tenants table shows them,
-- and role tenant_directory (src/api/directory.rs).
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tenant_directory') THEN
        CREATE ROLE tenant_directory NOLOGIN;
    END IF;
END
$roles$;
COMMENT ON ROLE tenant_directory IS
    'pg_tenant: members that SET app.bypass_rls = on list tenant.directory (id, name, slug, created_at of every tenant), e.g. to resolve a slug as Better Tenant does; they read no tenant''s data.';
CREATE FUNCTION @extschema@._tenant_directory_lists_all() RETURNS bool
    STRICT STABLE PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_directory_lists_all_wrapper';
COMMENT ON FUNCTION @extschema@._tenant_directory_lists_all() IS
    'pg_tenant internal: whether tenant.directory lists every tenant for this session (an operator, or a tenant_bypass or tenant_directory member that set app.bypass_rls).';
CREATE FUNCTION @extschema@._tenant_directory_write() RETURNS trigger
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_directory_write';
COMMENT ON FUNCTION @extschema@._tenant_directory_write() IS
    'pg_tenant internal: the INSTEAD OF trigger of tenant.directory (operators only): INSERT = tenant_create, UPDATE = rename, DELETE = tenant_delete.';
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
GRANT SELECT ON tenant.directory TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON tenant.directory TO tenant_admin;

-- Erasure with proof: tenant.erasures (one record per purged tenant, kept
-- after it, append-only), and tenant_purge's digest of the removed keys
-- (src/api/erasure.rs).
CREATE TABLE tenant.erasures (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid        NOT NULL,
    erased_at      timestamptz NOT NULL DEFAULT now(),
    erased_by      name        NOT NULL,
    session_role   name        NOT NULL,
    app_user       text,
    via            text        NOT NULL CONSTRAINT erasures_via CHECK (via IN ('tenant_purge', 'tenant_purge_expired')),
    forced         boolean     NOT NULL,
    tables         jsonb       NOT NULL,
    rows_removed   bigint      NOT NULL,
    keys_sha256    text        NOT NULL,
    checked_tables integer     NOT NULL
);
CREATE INDEX erasures_tenant_id ON tenant.erasures (tenant_id);
COMMENT ON TABLE tenant.erasures IS
    'pg_tenant: one record per purged tenant (who, when, what was removed per table, digests of the removed keys); outlives the data, append-only, read by tenant_admin.';
COMMENT ON COLUMN tenant.erasures.id IS 'The record''s id.';
COMMENT ON COLUMN tenant.erasures.tenant_id IS 'The purged tenant''s id (its name and slug are not kept).';
COMMENT ON COLUMN tenant.erasures.erased_at IS 'When the purge''s transaction started.';
COMMENT ON COLUMN tenant.erasures.erased_by IS 'The role that called the purge (current_user).';
COMMENT ON COLUMN tenant.erasures.session_role IS 'The session''s login role (session_user).';
COMMENT ON COLUMN tenant.erasures.app_user IS 'app.current_user_id when the purge ran, if set.';
COMMENT ON COLUMN tenant.erasures.via IS 'tenant_purge or tenant_purge_expired.';
COMMENT ON COLUMN tenant.erasures.forced IS 'Whether the tenant was purged without being deleted first (force => true).';
COMMENT ON COLUMN tenant.erasures.tables IS 'Per table, in the order removed: relation, rows, keys_sha256 (SHA-256 over the removed rows'' keys, sorted byte by byte, one per line).';
COMMENT ON COLUMN tenant.erasures.rows_removed IS 'Rows removed in all.';
COMMENT ON COLUMN tenant.erasures.keys_sha256 IS 'SHA-256 over the lines relation<TAB>rows<TAB>keys_sha256 of every table, in order.';
COMMENT ON COLUMN tenant.erasures.checked_tables IS 'How many tables were searched after the delete and held no row of the tenant.';
SELECT pg_catalog.pg_extension_config_dump('tenant.erasures', '');
ALTER TABLE tenant.erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.erasures FORCE ROW LEVEL SECURITY;
REVOKE ALL ON tenant.erasures FROM PUBLIC;
GRANT SELECT ON tenant.erasures TO tenant_admin;
CREATE POLICY tenant_admin_read ON tenant.erasures
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING (true);
COMMENT ON POLICY tenant_admin_read ON tenant.erasures IS
    'pg_tenant: members of tenant_admin see the erasure records.';
CREATE FUNCTION @extschema@._tenant_append_only() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_append_only';
REVOKE EXECUTE ON FUNCTION @extschema@._tenant_append_only() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@._tenant_append_only() IS
    'pg_tenant internal: BEFORE UPDATE/DELETE/TRUNCATE trigger of tenant.erasures; refuses every change (42501).';
CREATE TRIGGER tenant_append_only BEFORE UPDATE OR DELETE ON tenant.erasures
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_append_only();
CREATE TRIGGER tenant_append_only_truncate BEFORE TRUNCATE ON tenant.erasures
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_append_only();
COMMENT ON TRIGGER tenant_append_only ON tenant.erasures IS
    'pg_tenant: erasure records are append-only; UPDATE and DELETE are refused (42501).';
COMMENT ON TRIGGER tenant_append_only_truncate ON tenant.erasures IS
    'pg_tenant: erasure records are append-only; TRUNCATE is refused (42501).';
DROP FUNCTION @extschema@.tenant_purge(text, boolean);
CREATE FUNCTION @extschema@.tenant_purge("t" text, "force" bool DEFAULT false)
    RETURNS TABLE ("relation" text, "rows_deleted" bigint, "keys_sha256" text)
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_purge_wrapper';
REVOKE EXECUTE ON FUNCTION @extschema@.tenant_purge(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.tenant_purge(text, boolean) TO tenant_admin;
COMMENT ON FUNCTION @extschema@.tenant_purge(text, boolean) IS
    'pg_tenant: removes a deleted tenant''s rows from every tenant-scoped table, then the tenant; proves none is left and writes an erasure record (tenant.erasures). Returns per table the rows removed and the SHA-256 of their keys. force => true purges a tenant that is not deleted.';
COMMENT ON FUNCTION @extschema@.tenant_purge_expired(interval) IS
    'pg_tenant: purges every tenant deleted longer ago than the retention (default 30 days), each as tenant_purge does (with its erasure record); returns how many.';

-- The audit log: tenant.audit_log, tenant_audit_enable/_disable/_expire and
-- the audit triggers' function (src/api/audit.rs).
CREATE TABLE tenant.audit_log (
    tenant_id  uuid        NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT now(),
    xact       xid8        NOT NULL DEFAULT pg_current_xact_id(),
    relation   text        NOT NULL,
    operation  text        NOT NULL CONSTRAINT audit_log_operation CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    key        jsonb       NOT NULL,
    old_values jsonb,
    new_values jsonb,
    user_id    text,
    db_role    name        NOT NULL DEFAULT current_user,
    bypass     boolean     NOT NULL
);
-- One index: every audited write pays for each (no primary key, no foreign
-- key; tenant_purge removes a tenant's entries itself).
CREATE INDEX audit_log_tenant_logged_at ON tenant.audit_log (tenant_id, logged_at);
COMMENT ON TABLE tenant.audit_log IS
    'pg_tenant: every insert, update and delete of the audited tables (tenant_audit_enable), written in the same transaction; a tenant reads its own entries, nobody changes them, operators expire old ones (tenant_audit_expire).';
COMMENT ON COLUMN tenant.audit_log.tenant_id IS 'The tenant of the row written (with the bypass, each row''s own).';
COMMENT ON COLUMN tenant.audit_log.logged_at IS 'When the writing transaction started.';
COMMENT ON COLUMN tenant.audit_log.xact IS 'The writing transaction''s id: entries of one transaction share it.';
COMMENT ON COLUMN tenant.audit_log.relation IS 'The table written, qualified and quoted as needed.';
COMMENT ON COLUMN tenant.audit_log.operation IS 'INSERT, UPDATE or DELETE.';
COMMENT ON COLUMN tenant.audit_log.key IS 'The row''s primary key as a JSON object (column: value).';
COMMENT ON COLUMN tenant.audit_log.old_values IS 'DELETE: the old row; UPDATE: the changed columns'' old values (the whole old row when the key changed); INSERT: NULL.';
COMMENT ON COLUMN tenant.audit_log.new_values IS 'INSERT: the new row; UPDATE: the changed columns'' new values (the whole new row when the key changed); DELETE: NULL.';
COMMENT ON COLUMN tenant.audit_log.user_id IS 'app.current_user_id of the writing session, if set.';
COMMENT ON COLUMN tenant.audit_log.db_role IS 'The database role that wrote (current_user).';
COMMENT ON COLUMN tenant.audit_log.bypass IS 'Whether the write was made with the bypass (a tenant_bypass member with app.bypass_rls on).';
SELECT pg_catalog.pg_extension_config_dump('tenant.audit_log', '');
ALTER TABLE tenant.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.audit_log FORCE ROW LEVEL SECURITY;
REVOKE ALL ON tenant.audit_log FROM PUBLIC;
GRANT SELECT ON tenant.audit_log TO PUBLIC;
CREATE POLICY tenant_isolation ON tenant.audit_log
    AS PERMISSIVE FOR SELECT TO PUBLIC
    USING (tenant_id = (SELECT @extschema@.current_tenant_id()));
COMMENT ON POLICY tenant_isolation ON tenant.audit_log IS
    'pg_tenant: a session sees the audit entries of the tenant in app.current_tenant.';
CREATE POLICY tenant_admin_read ON tenant.audit_log
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING (true);
COMMENT ON POLICY tenant_admin_read ON tenant.audit_log IS
    'pg_tenant: members of tenant_admin see every tenant''s audit entries.';
CREATE FUNCTION @extschema@._tenant_audit() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_audit';
REVOKE EXECUTE ON FUNCTION @extschema@._tenant_audit() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@._tenant_audit() IS
    'pg_tenant internal: AFTER ... FOR EACH STATEMENT trigger of audited tables (arguments: the primary key''s columns); records the statement''s rows in tenant.audit_log.';
CREATE FUNCTION @extschema@.tenant_audit_enable("tbl" regclass) RETURNS text
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_audit_enable_wrapper';
CREATE FUNCTION @extschema@.tenant_audit_disable("tbl" regclass) RETURNS text
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_audit_disable_wrapper';
CREATE FUNCTION @extschema@.tenant_audit_expire("older_than" interval) RETURNS bigint
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_audit_expire_wrapper';
-- A table's owner may audit its own table; the functions check ownership.
GRANT EXECUTE ON FUNCTION @extschema@.tenant_audit_enable(regclass), @extschema@.tenant_audit_disable(regclass) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.tenant_audit_expire(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.tenant_audit_expire(interval) TO tenant_admin;
COMMENT ON FUNCTION @extschema@.tenant_audit_enable(regclass) IS
    'pg_tenant: records every insert, update and delete of a tenant-scoped table (with a primary key) into tenant.audit_log, in the writing transaction. For the table''s owner or an operator.';
COMMENT ON FUNCTION @extschema@.tenant_audit_disable(regclass) IS
    'pg_tenant: stops auditing a table (removes its audit triggers; the log keeps its entries). For the table''s owner or an operator.';
COMMENT ON FUNCTION @extschema@.tenant_audit_expire(interval) IS
    'pg_tenant: removes audit entries older than the given age; returns how many. Operators only.';

-- Moving a tenant: tenant_export (a set-returning C function in materialize
-- mode) and tenant_import (src/api/transfer.rs). Operators only.
CREATE FUNCTION @extschema@.tenant_export(t text)
    RETURNS TABLE (seq bigint, kind text, relation text, data jsonb)
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'tenant_export';
CREATE FUNCTION @extschema@.tenant_import("source" regclass, "id" uuid DEFAULT NULL, "slug" text DEFAULT NULL)
    RETURNS TABLE ("relation" text, "rows_imported" bigint, "rows_sha256" text)
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_import_wrapper';
REVOKE EXECUTE ON FUNCTION @extschema@.tenant_export(text), @extschema@.tenant_import(regclass, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.tenant_export(text), @extschema@.tenant_import(regclass, uuid, text) TO tenant_admin;
COMMENT ON FUNCTION @extschema@.tenant_export(text) IS
    'pg_tenant: every row of one tenant (by id or slug) as rows (seq, kind, relation, data): a header, its registry rows, its rows of every tenant-scoped table (parents first, values as text), and an end row with per-table row counts and SHA-256 digests. For operators who may SELECT every tenant-scoped table; tenant_import loads it back.';
COMMENT ON FUNCTION @extschema@.tenant_import(regclass, uuid, text) IS
    'pg_tenant: loads a tenant_export kept in a table (seq, kind, relation, data) into this database, under the exported or a new tenant id and slug; refuses a taken id or slug, a table or column this database lacks, or an export that does not match its end row, changing nothing. Returns per table the rows loaded and their SHA-256.';

-- Break-glass records (src/enforce/breakglass.rs, src/store/autonomous.rs).
CREATE TABLE tenant.bypass_log (
    logged_at    timestamptz NOT NULL DEFAULT now(),
    xact_start   timestamptz NOT NULL,
    backend_pid  integer     NOT NULL,
    vxid         text        NOT NULL,
    db_role      name        NOT NULL,
    session_role name        NOT NULL,
    app_user     text,
    reason       text        NOT NULL CONSTRAINT bypass_log_reason CHECK (btrim(reason) <> ''),
    tables       text[]      NOT NULL
);
CREATE INDEX bypass_log_logged_at ON tenant.bypass_log (logged_at);
COMMENT ON TABLE tenant.bypass_log IS
    'pg_tenant: one row per transaction that used the bypass (and per new role, reason or set of tables in it), written before the bypass opens anything and kept if the transaction rolls back; append-only, read by tenant_admin.';
COMMENT ON COLUMN tenant.bypass_log.logged_at IS 'When the record was written.';
COMMENT ON COLUMN tenant.bypass_log.xact_start IS 'When the bypassing transaction started.';
COMMENT ON COLUMN tenant.bypass_log.backend_pid IS 'The process id of the bypassing session.';
COMMENT ON COLUMN tenant.bypass_log.vxid IS 'The bypassing transaction''s virtual transaction id (process number/local id): with backend_pid and xact_start, it names the transaction.';
COMMENT ON COLUMN tenant.bypass_log.db_role IS 'The role that used the bypass (current_user, a member of tenant_bypass).';
COMMENT ON COLUMN tenant.bypass_log.session_role IS 'The session''s login role (session_user).';
COMMENT ON COLUMN tenant.bypass_log.app_user IS 'app.current_user_id of the session, if set.';
COMMENT ON COLUMN tenant.bypass_log.reason IS 'app.bypass_reason, the reason the session gave (required; at most 1000 characters kept).';
COMMENT ON COLUMN tenant.bypass_log.tables IS 'The tenant-scoped tables the transaction touched that no earlier record of it (for the same role and reason) lists.';
COMMENT ON INDEX tenant.bypass_log_logged_at IS 'pg_tenant: finds the records of a period.';
SELECT pg_catalog.pg_extension_config_dump('tenant.bypass_log', '');
ALTER TABLE tenant.bypass_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.bypass_log FORCE ROW LEVEL SECURITY;
REVOKE ALL ON tenant.bypass_log FROM PUBLIC;
GRANT SELECT ON tenant.bypass_log TO tenant_admin;
-- tenant.bypass_log: operators read it; the bypass recorder adds to it;
-- nobody changes it.
CREATE POLICY tenant_admin_read ON tenant.bypass_log
    AS PERMISSIVE FOR SELECT TO tenant_admin
    USING (true);
COMMENT ON POLICY tenant_admin_read ON tenant.bypass_log IS
    'pg_tenant: members of tenant_admin see the break-glass records.';
CREATE TRIGGER tenant_append_only BEFORE UPDATE OR DELETE ON tenant.bypass_log
    FOR EACH ROW EXECUTE FUNCTION @extschema@._tenant_append_only();
CREATE TRIGGER tenant_append_only_truncate BEFORE TRUNCATE ON tenant.bypass_log
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._tenant_append_only();
COMMENT ON TRIGGER tenant_append_only ON tenant.bypass_log IS
    'pg_tenant: break-glass records are append-only; UPDATE and DELETE are refused (42501).';
COMMENT ON TRIGGER tenant_append_only_truncate ON tenant.bypass_log IS
    'pg_tenant: break-glass records are append-only; TRUNCATE is refused (42501).';

COMMENT ON FUNCTION @extschema@._tenant_append_only() IS
    'pg_tenant internal: BEFORE UPDATE/DELETE/TRUNCATE trigger of tenant.erasures and tenant.bypass_log; refuses every change (42501).';

-- Governors: per-plan and per-tenant caps on each transaction of a tenant.
ALTER TABLE tenant.plans ADD COLUMN governors jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN tenant.plans.governors IS 'Caps on each transaction of a tenant on this plan: statement_timeout, lock_timeout, idle_in_transaction_session_timeout (ms), work_mem (kB), max_transactions (concurrent). Set with tenant_plan_governor_set.';
ALTER TABLE tenant.tenants ADD COLUMN governors jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN tenant.tenants.governors IS 'Per-tenant overrides of the plan''s governors (the plan''s apply where a key is missing). Set with tenant_governor_set.';
CREATE FUNCTION @extschema@._tenant_governors_valid("governors" jsonb) RETURNS bool
    IMMUTABLE PARALLEL RESTRICTED
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_governors_valid_wrapper';
CREATE FUNCTION @extschema@.tenant_governor_set("t" text, "governor" text, "value" text) RETURNS jsonb
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_governor_set_wrapper';
CREATE FUNCTION @extschema@.tenant_plan_governor_set("plan" text, "governor" text, "value" text) RETURNS jsonb
    VOLATILE PARALLEL UNSAFE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_plan_governor_set_wrapper';
CREATE FUNCTION @extschema@.tenant_governors("t" text) RETURNS TABLE (
    "governor" text, "value" bigint, "unit" text, "source" text)
    STABLE PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_governors_wrapper';
REVOKE EXECUTE ON FUNCTION
    @extschema@.tenant_governor_set(text, text, text),
    @extschema@.tenant_plan_governor_set(text, text, text),
    @extschema@.tenant_governors(text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.tenant_governor_set(text, text, text),
    @extschema@.tenant_plan_governor_set(text, text, text),
    @extschema@.tenant_governors(text)
TO tenant_admin;
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

-- Per-tenant statistics.
CREATE FUNCTION @extschema@._tenant_stat_tenants() RETURNS TABLE (
    "tenant_id" uuid, "period" text, "period_start" timestamptz, "statements" bigint,
    "rows_returned" bigint, "rows_written" bigint, "exec_time_ms" double precision, "score" bigint)
    STRICT VOLATILE PARALLEL RESTRICTED
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_stat_tenants_wrapper';
CREATE FUNCTION @extschema@.tenant_stat_reset() RETURNS bigint
    STRICT VOLATILE PARALLEL UNSAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_stat_reset_wrapper';

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

-- Usage counters split over stripes: concurrent writers of a tenant add to
-- stripes of their own when pg_tenant is preloaded (src/store/escrow.rs).
ALTER TABLE tenant.usage_totals ADD COLUMN stripe int4 NOT NULL DEFAULT 0
    CONSTRAINT usage_totals_stripe_range CHECK (stripe >= 0 AND stripe < 16);
ALTER TABLE tenant.usage_totals DROP CONSTRAINT usage_totals_pkey;
ALTER TABLE tenant.usage_totals ADD PRIMARY KEY (tenant_id, stripe);
ALTER TABLE tenant.usage_totals ALTER COLUMN tenant_id SET NOT NULL;
COMMENT ON COLUMN tenant.usage_totals.stripe IS
    'Which part of the tenant''s counters this row holds: a counter is the sum over the tenant''s stripes (0, and 1-15 for concurrent writers when pg_tenant is preloaded; tenant_usage_reconcile folds them into 0). Members are counted in stripe 0 only.';
ALTER TABLE tenant.usage_by_table ADD COLUMN stripe int4 NOT NULL DEFAULT 0
    CONSTRAINT usage_by_table_stripe_range CHECK (stripe >= 0 AND stripe < 16);
ALTER TABLE tenant.usage_by_table DROP CONSTRAINT usage_by_table_pkey;
ALTER TABLE tenant.usage_by_table ADD PRIMARY KEY (tenant_id, relid, stripe);
ALTER TABLE tenant.usage_by_table ALTER COLUMN tenant_id SET NOT NULL;
ALTER TABLE tenant.usage_by_table ALTER COLUMN relid SET NOT NULL;
COMMENT ON COLUMN tenant.usage_by_table.stripe IS
    'Which part of the tenant''s counters for the table this row holds: the counts are the sums over the stripes (0, and 1-15 for concurrent writers when pg_tenant is preloaded; tenant_usage_reconcile folds them into 0).';
CREATE OR REPLACE VIEW tenant.quota_status WITH (security_barrier) AS
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

-- Operators read (and edit plans) every tenant's registry rows only when they ask
-- themselves: through a view or SECURITY DEFINER function an operator owns, the
-- tenant_admin policies opened every tenant to its readers.
CREATE FUNCTION @extschema@._tenant_operator_reads() RETURNS bool
    STRICT STABLE PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_operator_reads_wrapper';
COMMENT ON FUNCTION @extschema@._tenant_operator_reads() IS
    'pg_tenant internal: whether the registry''s tenant_admin_read and tenant_admin_write policies apply to this session: the role asking and the session''s role outside SECURITY DEFINER functions are both operators (not a reader of an operator''s view).';
ALTER POLICY tenant_admin_read ON tenant.tenants USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.tenants IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) list every tenant.';
ALTER POLICY tenant_admin_read ON tenant.check_acceptances USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.check_acceptances IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see the accepted tenant_check findings.';
ALTER POLICY tenant_admin_read ON tenant.erasures USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.erasures IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see the erasure records.';
ALTER POLICY tenant_admin_read ON tenant.bypass_log USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.bypass_log IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see the break-glass records.';
ALTER POLICY tenant_admin_read ON tenant.audit_log USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.audit_log IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s audit entries.';
ALTER POLICY tenant_admin_read ON tenant.members USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.members IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s members.';
ALTER POLICY tenant_admin_read ON tenant.domains USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.domains IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s domains.';
ALTER POLICY tenant_admin_read ON tenant.settings USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.settings IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s settings.';
ALTER POLICY tenant_admin_write ON tenant.plans USING ((SELECT @extschema@._tenant_operator_reads())) WITH CHECK ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_write ON tenant.plans IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) create and edit plans.';
ALTER POLICY tenant_admin_write ON tenant.plan_row_limits USING ((SELECT @extschema@._tenant_operator_reads())) WITH CHECK ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_write ON tenant.plan_row_limits IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) edit plan row limits (or use tenant_plan_quota_set).';
ALTER POLICY tenant_admin_read ON tenant.row_limits USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.row_limits IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s row limits.';
ALTER POLICY tenant_admin_read ON tenant.usage_totals USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.usage_totals IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s usage.';
ALTER POLICY tenant_admin_read ON tenant.usage_by_table USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.usage_by_table IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s per-table usage.';
ALTER POLICY tenant_admin_read ON tenant.usage USING ((SELECT @extschema@._tenant_operator_reads()));
COMMENT ON POLICY tenant_admin_read ON tenant.usage IS
    'pg_tenant: members of tenant_admin (asking themselves, not through a view or SECURITY DEFINER function one owns) see every tenant''s API request counts.';
-- A tenant's audit entries carry the rows' values: shown for the tables the session may SELECT.
CREATE FUNCTION @extschema@._tenant_may_read_audited("relation" text) RETURNS bool
    STRICT STABLE PARALLEL RESTRICTED
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_may_read_audited_wrapper';
COMMENT ON FUNCTION @extschema@._tenant_may_read_audited(text) IS
    'pg_tenant internal: whether the session may SELECT the audited table an entry of tenant.audit_log names (the log''s read policy asks per entry; false for a table gone or renamed).';
ALTER POLICY tenant_isolation ON tenant.audit_log USING (tenant_id = (SELECT @extschema@.current_tenant_id())
           AND @extschema@._tenant_may_read_audited(relation));
COMMENT ON POLICY tenant_isolation ON tenant.audit_log IS
    'pg_tenant: a session sees the audit entries of the tenant in app.current_tenant, of the tables it may SELECT (the entries carry the rows'' values).';
