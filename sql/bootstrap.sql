-- pg_tenant registry, part 1 of 2 (runs before the functions are created).
-- Schema, cluster roles and the registry tables. Policies, triggers and grants
-- that reference pg_tenant's functions live in sql/finalize.sql.

CREATE SCHEMA tenant;
COMMENT ON SCHEMA tenant IS
    'pg_tenant registry: tenants and the tables that are tenant-scoped. Managed by pg_tenant functions.';

-- Roles are cluster-wide, so a second database that installs pg_tenant finds them
-- already there; they are kept when the extension is dropped.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tenant_admin') THEN
        CREATE ROLE tenant_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tenant_bypass') THEN
        CREATE ROLE tenant_bypass NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tenant_directory') THEN
        CREATE ROLE tenant_directory NOLOGIN;
    END IF;
END
$roles$;
COMMENT ON ROLE tenant_admin IS
    'pg_tenant: members may create tenants, list every tenant and run tenant_enable/tenant_disable on tables they own.';
COMMENT ON ROLE tenant_bypass IS
    'pg_tenant: members that also SET app.bypass_rls = on read and write every tenant''s rows (admin tools, background jobs).';
COMMENT ON ROLE tenant_directory IS
    'pg_tenant: members that SET app.bypass_rls = on list tenant.directory (id, name, slug, created_at of every tenant), e.g. to resolve a slug as Better Tenant does; they read no tenant''s data.';

-- Plans come first: tenants name theirs. NULL limits mean unlimited.
CREATE TABLE tenant.plans (
    id                         text        PRIMARY KEY,
    name                       text        NOT NULL,
    max_members                bigint,
    max_storage_bytes          bigint,
    max_api_requests_per_month bigint,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    governors                  jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT plans_id_format CHECK (id ~ '^[a-z0-9]+([-_][a-z0-9]+)*$' AND length(id) <= 63),
    CONSTRAINT plans_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT plans_limits_not_negative CHECK (
        max_members >= 0 AND max_storage_bytes >= 0 AND max_api_requests_per_month >= 0)
);
COMMENT ON TABLE tenant.plans IS
    'pg_tenant: plans and their limits (NULL = unlimited). Operators (tenant_admin) edit them with SQL or tenant_plan_limit_set; tenants follow their plan unless they override a limit.';
COMMENT ON COLUMN tenant.plans.id IS 'Plan key, the value of tenant.tenants.plan (lower-case letters, digits, "-" or "_").';
COMMENT ON COLUMN tenant.plans.name IS 'Display name of the plan.';
COMMENT ON COLUMN tenant.plans.max_members IS 'Members a tenant on this plan may have; NULL = unlimited.';
COMMENT ON COLUMN tenant.plans.max_storage_bytes IS 'Bytes of data a tenant on this plan may keep in tenant-scoped tables; NULL = unlimited.';
COMMENT ON COLUMN tenant.plans.max_api_requests_per_month IS 'API requests per calendar month (UTC) counted by tenant_record_api_request; NULL = unlimited.';
COMMENT ON COLUMN tenant.plans.governors IS 'Caps on each transaction of a tenant on this plan: statement_timeout, lock_timeout, idle_in_transaction_session_timeout (ms), work_mem (kB), max_transactions (concurrent). Set with tenant_plan_governor_set.';
-- The default plans (free, pro, enterprise) are inserted by sql/finalize.sql.

CREATE TABLE tenant.tenants (
    id                         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug                       text        NOT NULL UNIQUE,
    name                       text        NOT NULL,
    status                     text        NOT NULL DEFAULT 'active',
    plan                       text        REFERENCES tenant.plans (id) ON UPDATE CASCADE,
    owner_id                   uuid,
    max_members                bigint,
    max_storage_bytes          bigint,
    max_api_requests_per_month bigint,
    metadata                   jsonb       NOT NULL DEFAULT '{}',
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    suspended_at               timestamptz,
    deleted_at                 timestamptz,
    governors                  jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 63),
    -- A tenant reference that reads as a UUID names a tenant id; a slug that
    -- spelled another tenant's id would make every t argument act on it.
    CONSTRAINT tenants_slug_not_an_id CHECK (replace(slug, '-', '') !~ '^[0-9a-f]{32}$'),
    CONSTRAINT tenants_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT tenants_status_valid CHECK (status IN ('active', 'suspended', 'deleted')),
    CONSTRAINT tenants_quotas_not_negative CHECK (
        max_members >= 0 AND max_storage_bytes >= 0 AND max_api_requests_per_month >= 0),
    CONSTRAINT tenants_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);
COMMENT ON TABLE tenant.tenants IS
    'pg_tenant: one row per tenant. An application role sees only the row of the tenant in app.current_tenant.';
COMMENT ON COLUMN tenant.tenants.id IS 'Tenant id: the value of app.current_tenant and of tenant_id in tenant-scoped tables.';
COMMENT ON COLUMN tenant.tenants.slug IS 'Unique URL-safe name: lower-case ASCII letters and digits joined by "-".';
COMMENT ON COLUMN tenant.tenants.status IS 'active, suspended or deleted; only active tenants can be named in app.current_tenant.';
COMMENT ON COLUMN tenant.tenants.plan IS 'Name of the tenant''s plan (limits come from it unless the tenant overrides them).';
COMMENT ON COLUMN tenant.tenants.owner_id IS 'User id of the tenant''s owner (the application''s user id, not a database role).';
COMMENT ON COLUMN tenant.tenants.max_members IS 'Per-tenant override of the plan''s member limit; NULL means "use the plan".';
COMMENT ON COLUMN tenant.tenants.max_storage_bytes IS 'Per-tenant override of the plan''s storage limit; NULL means "use the plan".';
COMMENT ON COLUMN tenant.tenants.max_api_requests_per_month IS 'Per-tenant override of the plan''s monthly API request limit; NULL means "use the plan".';
COMMENT ON COLUMN tenant.tenants.metadata IS 'Free-form metadata for operators (JSON object).';
COMMENT ON COLUMN tenant.tenants.governors IS 'Per-tenant overrides of the plan''s governors (the plan''s apply where a key is missing). Set with tenant_governor_set.';

CREATE TABLE tenant.tables (
    relid         regclass    PRIMARY KEY,
    column_added  boolean     NOT NULL DEFAULT false,
    index_created boolean     NOT NULL DEFAULT false,
    enabled_at    timestamptz NOT NULL DEFAULT now(),
    enabled_by    name        NOT NULL DEFAULT current_user,
    track_usage   boolean     NOT NULL DEFAULT false
);
COMMENT ON TABLE tenant.tables IS
    'pg_tenant: the tables made tenant-scoped by tenant_enable(), with what tenant_enable added to them.';
COMMENT ON COLUMN tenant.tables.relid IS 'The tenant-scoped table.';
COMMENT ON COLUMN tenant.tables.column_added IS 'true when tenant_enable added the tenant_id column (add_column => true).';
COMMENT ON COLUMN tenant.tables.index_created IS 'true when tenant_enable created the index led by tenant_id.';
COMMENT ON COLUMN tenant.tables.enabled_at IS 'When tenant_enable first made the table tenant-scoped.';
COMMENT ON COLUMN tenant.tables.enabled_by IS 'The role that ran tenant_enable.';
COMMENT ON COLUMN tenant.tables.track_usage IS 'true when the table''s rows and bytes are counted per tenant (tenant_enable(..., track_usage => true), the default), so row and storage quotas apply to it.';

CREATE TABLE tenant.members (
    tenant_id  uuid        NOT NULL REFERENCES tenant.tenants (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL,
    role       text        NOT NULL DEFAULT 'member',
    joined_at  timestamptz NOT NULL DEFAULT now(),
    invited_by uuid,
    PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT members_role_valid CHECK (role IN ('owner', 'admin', 'member', 'guest'))
);
CREATE INDEX members_user_id_idx ON tenant.members (user_id);
COMMENT ON TABLE tenant.members IS
    'pg_tenant: users of each tenant with their role (owner > admin > member > guest). Managed with tenant_member_* functions.';
COMMENT ON COLUMN tenant.members.user_id IS 'The application''s user id (the value of app.current_user_id), not a database role.';
COMMENT ON COLUMN tenant.members.role IS 'owner, admin, member or guest; a tenant keeps at least one owner once it has one.';
COMMENT ON COLUMN tenant.members.invited_by IS 'app.current_user_id of whoever added the member, when known.';
COMMENT ON INDEX tenant.members_user_id_idx IS 'pg_tenant: finds the tenants of a user.';

CREATE TABLE tenant.domains (
    domain             text        PRIMARY KEY,
    tenant_id          uuid        NOT NULL REFERENCES tenant.tenants (id) ON DELETE CASCADE,
    verification_token text        NOT NULL,
    verified_at        timestamptz,
    is_primary         boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT domains_lower_case CHECK (domain = lower(domain)),
    CONSTRAINT domains_primary_is_verified CHECK (NOT is_primary OR verified_at IS NOT NULL)
);
CREATE INDEX domains_tenant_id_idx ON tenant.domains (tenant_id);
CREATE UNIQUE INDEX domains_one_primary ON tenant.domains (tenant_id) WHERE is_primary;
COMMENT ON TABLE tenant.domains IS
    'pg_tenant: custom domains of tenants (lower case, unique across tenants); only verified domains resolve.';
COMMENT ON COLUMN tenant.domains.verification_token IS 'Secret returned by tenant_domain_add, proven with tenant_domain_verify (e.g. after a DNS TXT check).';
COMMENT ON COLUMN tenant.domains.is_primary IS 'The tenant''s primary domain; at most one per tenant, always verified.';
COMMENT ON INDEX tenant.domains_tenant_id_idx IS 'pg_tenant: finds the domains of a tenant.';
COMMENT ON INDEX tenant.domains_one_primary IS 'pg_tenant: at most one primary domain per tenant.';

CREATE TABLE tenant.settings (
    tenant_id  uuid        NOT NULL REFERENCES tenant.tenants (id) ON DELETE CASCADE,
    key        text        NOT NULL,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key),
    CONSTRAINT settings_key_format CHECK (key ~ '^[a-z0-9_-]+(\.[a-z0-9_-]+)*$' AND length(key) <= 200)
);
COMMENT ON TABLE tenant.settings IS
    'pg_tenant: per-tenant settings under dotted keys (branding.logo_url); tenant_settings() returns them as one nested JSON document.';

-- Quotas. Row limits per tenant-scoped table, per plan and per tenant; a
-- table's limits and counters go when it stops being tenant-scoped.
CREATE TABLE tenant.plan_row_limits (
    plan_id  text     NOT NULL REFERENCES tenant.plans (id) ON UPDATE CASCADE ON DELETE CASCADE,
    relid    regclass NOT NULL REFERENCES tenant.tables (relid) ON DELETE CASCADE,
    max_rows bigint   NOT NULL CONSTRAINT plan_row_limits_not_negative CHECK (max_rows >= 0),
    PRIMARY KEY (plan_id, relid)
);
COMMENT ON TABLE tenant.plan_row_limits IS
    'pg_tenant: rows a tenant on a plan may keep in a tenant-scoped table (no row = unlimited). Set with tenant_plan_quota_set.';
CREATE TABLE tenant.row_limits (
    tenant_id uuid     NOT NULL REFERENCES tenant.tenants (id) ON UPDATE CASCADE ON DELETE CASCADE,
    relid     regclass NOT NULL REFERENCES tenant.tables (relid) ON DELETE CASCADE,
    max_rows  bigint   NOT NULL CONSTRAINT row_limits_not_negative CHECK (max_rows >= 0),
    PRIMARY KEY (tenant_id, relid)
);
COMMENT ON TABLE tenant.row_limits IS
    'pg_tenant: per-tenant overrides of the plan''s row limit for a table. Set with tenant_quota_set.';

-- Usage counters, maintained by pg_tenant's triggers inside the writing
-- transaction. A counter is the sum of its rows (stripes): stripe 0, and
-- when pg_tenant is preloaded one per writer that met another writer of the
-- same tenant (src/store/escrow.rs keeps the limits exact).
-- fillfactor leaves room on each page for HOT updates of the counters.
CREATE TABLE tenant.usage_totals (
    tenant_id     uuid   NOT NULL REFERENCES tenant.tenants (id) ON UPDATE CASCADE ON DELETE CASCADE,
    members       bigint NOT NULL DEFAULT 0,
    storage_bytes bigint NOT NULL DEFAULT 0,
    stripe        int4   NOT NULL DEFAULT 0 CONSTRAINT usage_totals_stripe_range CHECK (stripe >= 0 AND stripe < 16),
    PRIMARY KEY (tenant_id, stripe)
) WITH (fillfactor = 50);
COMMENT ON TABLE tenant.usage_totals IS
    'pg_tenant: each tenant''s member count and bytes across tenant-scoped tables, kept up to date by triggers; tenant_usage_reconcile recomputes them.';
COMMENT ON COLUMN tenant.usage_totals.storage_bytes IS
    'Sum of the tenant''s row sizes in every table that tracks usage: each value''s uncompressed size plus 24 bytes per row.';
COMMENT ON COLUMN tenant.usage_totals.stripe IS
    'Which part of the tenant''s counters this row holds: a counter is the sum over the tenant''s stripes (0, and 1-15 for concurrent writers when pg_tenant is preloaded; tenant_usage_reconcile folds them into 0). Members are counted in stripe 0 only.';
CREATE TABLE tenant.usage_by_table (
    tenant_id uuid     NOT NULL REFERENCES tenant.tenants (id) ON UPDATE CASCADE ON DELETE CASCADE,
    relid     regclass NOT NULL REFERENCES tenant.tables (relid) ON DELETE CASCADE,
    row_count bigint   NOT NULL DEFAULT 0,
    bytes     bigint   NOT NULL DEFAULT 0,
    stripe    int4     NOT NULL DEFAULT 0 CONSTRAINT usage_by_table_stripe_range CHECK (stripe >= 0 AND stripe < 16),
    PRIMARY KEY (tenant_id, relid, stripe)
) WITH (fillfactor = 50);
COMMENT ON TABLE tenant.usage_by_table IS
    'pg_tenant: each tenant''s rows and bytes per tenant-scoped table, kept up to date by the tenant_usage_* triggers.';
COMMENT ON COLUMN tenant.usage_by_table.stripe IS
    'Which part of the tenant''s counters for the table this row holds: the counts are the sums over the stripes (0, and 1-15 for concurrent writers when pg_tenant is preloaded; tenant_usage_reconcile folds them into 0).';
CREATE TABLE tenant.usage (
    tenant_id    uuid   NOT NULL REFERENCES tenant.tenants (id) ON UPDATE CASCADE ON DELETE CASCADE,
    month        date   NOT NULL CONSTRAINT usage_month_first_day CHECK (extract(day FROM month) = 1),
    api_requests bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, month)
);
COMMENT ON TABLE tenant.usage IS
    'pg_tenant: API requests per tenant and calendar month (UTC), counted by tenant_record_api_request.';
COMMENT ON COLUMN tenant.usage.month IS 'First day of the calendar month (UTC).';

-- Findings of tenant_check an operator accepted (tenant_check_accept), so
-- that tenant_assert_check fails on new ones only.
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

-- Erasure records (tenant_purge, tenant_purge_expired): what was removed of a
-- tenant, written in the purge's transaction, kept after the tenant is gone
-- (no foreign key), read by operators, changed by nobody (a trigger refuses
-- UPDATE, DELETE and TRUNCATE).
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

-- The audit log (tenant_audit_enable): every row written to an audited
-- table, recorded by the writing statement's triggers in its transaction.
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

-- Break-glass records: every transaction in which a member of tenant_bypass
-- used the bypass, written by a background worker in a transaction of its
-- own before the bypass opened anything (kept when the bypassing
-- transaction rolls back); read by operators, changed by nobody.
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

-- Keep the rows in pg_dump output (extension configuration tables).
SELECT pg_catalog.pg_extension_config_dump('tenant.tenants', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.tables', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.members', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.domains', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.settings', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.plans', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.plan_row_limits', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.row_limits', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.usage_totals', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.usage_by_table', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.usage', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.check_acceptances', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.erasures', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.bypass_log', '');

-- Row-Level Security on the registry itself; the policies are in sql/finalize.sql.
ALTER TABLE tenant.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.tables ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.tables FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.members ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.members FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.domains FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.settings FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.plans FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.plan_row_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.plan_row_limits FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.row_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.row_limits FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.usage_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.usage_totals FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.usage_by_table ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.usage_by_table FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.usage FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.check_acceptances ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.check_acceptances FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.erasures FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.audit_log FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.bypass_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.bypass_log FORCE ROW LEVEL SECURITY;

-- Writes go through pg_tenant's functions only; reads are filtered by RLS.
REVOKE ALL ON ALL TABLES IN SCHEMA tenant FROM PUBLIC;
GRANT USAGE ON SCHEMA tenant TO PUBLIC;
GRANT SELECT ON tenant.tenants TO PUBLIC;
GRANT SELECT ON tenant.tables TO PUBLIC;
GRANT SELECT ON tenant.members TO PUBLIC;
GRANT SELECT ON tenant.settings TO PUBLIC;
GRANT SELECT ON tenant.plans, tenant.plan_row_limits, tenant.row_limits,
                tenant.usage_totals, tenant.usage_by_table, tenant.usage TO PUBLIC;
-- Operators edit plans directly; everything else goes through functions.
GRANT INSERT, UPDATE, DELETE ON tenant.plans, tenant.plan_row_limits TO tenant_admin;
-- Verification tokens are secrets: applications read domains without them.
GRANT SELECT (domain, tenant_id, verified_at, is_primary, created_at) ON tenant.domains TO PUBLIC;
GRANT SELECT ON tenant.domains TO tenant_admin;
-- Accepted findings are the operators' (tenant_check_accept writes them).
GRANT SELECT ON tenant.check_acceptances TO tenant_admin;
-- Erasure records are the operators' (tenant_purge writes them).
GRANT SELECT ON tenant.erasures TO tenant_admin;
-- Break-glass records are the operators' (the bypass recorder writes them).
GRANT SELECT ON tenant.bypass_log TO tenant_admin;
-- The audit log: read through RLS; written only by the audit trigger (as the
-- registry owner); updated and deleted by nobody.
GRANT SELECT ON tenant.audit_log TO PUBLIC;
-- tenant_enable adds a foreign key to tenant.tenants (id), which needs REFERENCES.
GRANT REFERENCES (id) ON tenant.tenants TO tenant_admin;
