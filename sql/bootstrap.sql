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
END
$roles$;
COMMENT ON ROLE tenant_admin IS
    'pg_tenant: members may create tenants, list every tenant and run tenant_enable/tenant_disable on tables they own.';
COMMENT ON ROLE tenant_bypass IS
    'pg_tenant: members that also SET app.bypass_rls = on read and write every tenant''s rows (admin tools, background jobs).';

CREATE TABLE tenant.tenants (
    id                         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug                       text        NOT NULL UNIQUE,
    name                       text        NOT NULL,
    status                     text        NOT NULL DEFAULT 'active',
    plan                       text,
    owner_id                   uuid,
    max_members                integer,
    max_storage_bytes          bigint,
    max_api_requests_per_month bigint,
    metadata                   jsonb       NOT NULL DEFAULT '{}',
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    suspended_at               timestamptz,
    deleted_at                 timestamptz,
    CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 63),
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

CREATE TABLE tenant.tables (
    relid         regclass    PRIMARY KEY,
    column_added  boolean     NOT NULL DEFAULT false,
    index_created boolean     NOT NULL DEFAULT false,
    enabled_at    timestamptz NOT NULL DEFAULT now(),
    enabled_by    name        NOT NULL DEFAULT current_user
);
COMMENT ON TABLE tenant.tables IS
    'pg_tenant: the tables made tenant-scoped by tenant_enable(), with what tenant_enable added to them.';
COMMENT ON COLUMN tenant.tables.relid IS 'The tenant-scoped table.';
COMMENT ON COLUMN tenant.tables.column_added IS 'true when tenant_enable added the tenant_id column (add_column => true).';
COMMENT ON COLUMN tenant.tables.index_created IS 'true when tenant_enable created the index led by tenant_id.';
COMMENT ON COLUMN tenant.tables.enabled_at IS 'When tenant_enable first made the table tenant-scoped.';
COMMENT ON COLUMN tenant.tables.enabled_by IS 'The role that ran tenant_enable.';

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

-- Keep the rows in pg_dump output (extension configuration tables).
SELECT pg_catalog.pg_extension_config_dump('tenant.tenants', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.tables', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.members', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.domains', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.settings', '');

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

-- Writes go through pg_tenant's functions only; reads are filtered by RLS.
REVOKE ALL ON ALL TABLES IN SCHEMA tenant FROM PUBLIC;
GRANT USAGE ON SCHEMA tenant TO PUBLIC;
GRANT SELECT ON tenant.tenants TO PUBLIC;
GRANT SELECT ON tenant.tables TO PUBLIC;
GRANT SELECT ON tenant.members TO PUBLIC;
GRANT SELECT ON tenant.settings TO PUBLIC;
-- Verification tokens are secrets: applications read domains without them.
GRANT SELECT (domain, tenant_id, verified_at, is_primary, created_at) ON tenant.domains TO PUBLIC;
GRANT SELECT ON tenant.domains TO tenant_admin;
-- tenant_enable adds a foreign key to tenant.tenants (id), which needs REFERENCES.
GRANT REFERENCES (id) ON tenant.tenants TO tenant_admin;
