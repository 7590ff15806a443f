-- pg_tenant's trigger functions. They are C functions of pg_tenant's library
-- declared here rather than by pgrx's #[pg_trigger], whose wrapper reports a
-- direct call (SELECT tenant_set_id()) as an internal error: pg_tenant's own
-- entry point refuses it with SQLSTATE 39P01 (src/trigger.rs). Comments and
-- grants are in sql/finalize.sql.
CREATE FUNCTION @extschema@.tenant_set_id() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_set_id';
CREATE FUNCTION @extschema@.tenant_count_usage() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'tenant_count_usage';
CREATE FUNCTION @extschema@._tenant_registry_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_registry_changed';
CREATE FUNCTION @extschema@._tenant_plans_restore() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_plans_restore';
CREATE FUNCTION @extschema@._tenant_registry_references() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_registry_references';
CREATE FUNCTION @extschema@._tenant_audit() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_audit';
CREATE FUNCTION @extschema@._tenant_append_only() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_append_only';
CREATE FUNCTION @extschema@._tenant_registry_guard() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_registry_guard';
CREATE FUNCTION @extschema@._tenant_ddl_guard() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_ddl_guard';
CREATE FUNCTION @extschema@._tenant_ddl_dropped() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_ddl_dropped';
CREATE FUNCTION @extschema@._tenant_ddl_partitions() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_ddl_partitions';
CREATE FUNCTION @extschema@._tenant_directory_write() RETURNS trigger
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c AS 'MODULE_PATHNAME', '_tenant_directory_write';

-- tenant_export is a set-returning C function in materialize mode
-- (src/api/transfer.rs): a tenant of any size streams into a tuplestore
-- that spills to disk, instead of passing row by row through pgrx.
CREATE FUNCTION @extschema@.tenant_export(t text)
    RETURNS TABLE (seq bigint, kind text, relation text, data jsonb)
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'tenant_export';
