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
    settings                   jsonb       NOT NULL DEFAULT '{}',
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
    CONSTRAINT tenants_settings_object CHECK (jsonb_typeof(settings) = 'object'),
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
COMMENT ON COLUMN tenant.tenants.settings IS 'Per-tenant settings document (JSON object).';
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

-- Keep the rows in pg_dump output (extension configuration tables).
SELECT pg_catalog.pg_extension_config_dump('tenant.tenants', '');
SELECT pg_catalog.pg_extension_config_dump('tenant.tables', '');

-- Row-Level Security on the registry itself; the policies are in sql/finalize.sql.
ALTER TABLE tenant.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant.tables ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant.tables FORCE ROW LEVEL SECURITY;

-- Writes go through pg_tenant's functions only; reads are filtered by RLS.
REVOKE ALL ON ALL TABLES IN SCHEMA tenant FROM PUBLIC;
GRANT USAGE ON SCHEMA tenant TO PUBLIC;
GRANT SELECT ON tenant.tenants TO PUBLIC;
GRANT SELECT ON tenant.tables TO PUBLIC;
-- tenant_enable adds a foreign key to tenant.tenants (id), which needs REFERENCES.
GRANT REFERENCES (id) ON tenant.tenants TO tenant_admin;
