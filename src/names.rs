//! The names pg_tenant gives things, in one place: the session settings it
//! reads, the column, policies and triggers it puts on tenant-scoped tables,
//! and the schema of its registry. Every layer may use them.

use std::ffi::CStr;

/// The tenant a transaction acts for (a UUID).
pub const TENANT_SETTING: &CStr = c"app.current_tenant";
/// The application user a transaction acts for (a UUID).
pub const USER_SETTING: &CStr = c"app.current_user_id";
/// A transaction's request for cross-tenant access (a boolean).
pub const BYPASS_SETTING: &CStr = c"app.bypass_rls";
/// Why a transaction uses the bypass (text, required with it).
pub const BYPASS_REASON_SETTING: &CStr = c"app.bypass_reason";

/// The schema of pg_tenant's registry tables.
pub const REGISTRY_SCHEMA: &CStr = c"tenant";
/// The registry's table of tenants, whose relcache invalidation tells every
/// session that the registry changed.
pub const TENANTS_TABLE: &CStr = c"tenants";

/// The column that holds a row's tenant in every tenant-scoped table.
pub const TENANT_COLUMN: &str = "tenant_id";
/// The same name for C APIs (must stay equal to TENANT_COLUMN).
pub const TENANT_COLUMN_C: &CStr = c"tenant_id";
/// The policy that shows a session its own tenant's rows only.
pub const ISOLATION_POLICY: &str = "tenant_isolation";
/// The policy that lets members of `tenant_bypass` that ask see every tenant.
pub const BYPASS_POLICY: &str = "tenant_bypass";
/// The BEFORE INSERT trigger (and its function) that fills tenant_id.
pub const FILL_TRIGGER: &str = "tenant_set_id";
/// The statement trigger function that counts usage, and its transition tables.
pub const USAGE_TRIGGER_FUNCTION: &str = "tenant_count_usage";
pub const NEW_ROWS: &str = "tenant_new_rows";
pub const OLD_ROWS: &str = "tenant_old_rows";
