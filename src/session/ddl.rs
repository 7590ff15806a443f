//! The DDL guard's setting, `pg_tenant.ddl_guard` (superuser-only: `error`,
//! the default, `warn` or `off`), auto-enable's (`pg_tenant.auto_enable`,
//! off by default, and `pg_tenant.auto_enable_schemas`, both
//! superuser-only), and whether the DDL running now is pg_tenant's own
//! (`tenant_enable`, `tenant_disable`), which the guard lets through.

use crate::error::{self, Result};
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PgList, PostgresGucEnum};
use std::cell::Cell;
use std::ffi::{CStr, CString};

/// `pg_tenant.ddl_guard`.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum DdlGuard {
    /// Refuse DDL that weakens a tenant-scoped table.
    #[name = c"error"]
    Error,
    /// Let it run with a WARNING.
    #[name = c"warn"]
    Warn,
    /// Say nothing.
    #[name = c"off"]
    Off,
}

static DDL_GUARD: GucSetting<DdlGuard> = GucSetting::<DdlGuard>::new(DdlGuard::Error);
static AUTO_ENABLE: GucSetting<bool> = GucSetting::<bool>::new(false);
static AUTO_ENABLE_SCHEMAS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"public"));

thread_local! {
    /// How deep pg_tenant's own DDL is nested right now.
    static OWN_DDL: Cell<u32> = const { Cell::new(0) };
}

/// Defines the setting (called by `settings::init`, before the prefix is
/// reserved).
pub fn define() {
    GucRegistry::define_enum_guc(
        c"pg_tenant.ddl_guard",
        c"pg_tenant: what DDL that weakens a tenant-scoped table meets (error, warn, off).",
        c"error (default): dropping or altering the tenant_isolation/tenant_bypass policies, DISABLE or NO FORCE ROW LEVEL SECURITY, dropping or disabling tenant_set_id or the usage triggers, dropping NOT NULL or the foreign key of tenant_id, changing its type or dropping it are refused unless done by tenant_disable. warn: they run with a WARNING. off: nothing is said.",
        &DDL_GUARD,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pg_tenant.auto_enable",
        c"pg_tenant: make every new table with a tenant_id uuid column tenant-scoped (in pg_tenant.auto_enable_schemas).",
        c"off (default). on: a table created (CREATE TABLE, CREATE TABLE AS, SELECT INTO, CREATE SCHEMA ... CREATE TABLE) in one of the schemas of pg_tenant.auto_enable_schemas with a tenant_id column of type uuid is made tenant-scoped in the same statement, with tenant_enable's defaults, as the role that created it. Nothing happens under row_security = off (pg_dump's scripts, which carry the table's policies themselves).",
        &AUTO_ENABLE,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SAFETY: the check hook is #[pg_guard]ed and raises no error.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"pg_tenant.auto_enable_schemas",
            c"pg_tenant: the schemas pg_tenant.auto_enable applies to (a list, as search_path is written).",
            c"Default public. Names are compared as search_path compares them: unquoted ones folded to lower case.",
            &AUTO_ENABLE_SCHEMAS,
            GucContext::Suset,
            GucFlags::from_bits_retain(pg_sys::GUC_LIST_INPUT as i32),
            Some(check_schema_list),
            None,
            None,
        );
    }
}

/// Refuses, when it is set, a value of `pg_tenant.auto_enable_schemas` that
/// is not a list of names (an unterminated quote): it would otherwise fail
/// every CREATE TABLE of the sessions that have it.
#[pg_guard]
unsafe extern "C-unwind" fn check_schema_list(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    unsafe {
        if newval.is_null() || (*newval).is_null() {
            return true;
        }
        let ok = split_names(*newval).is_some();
        if !ok {
            pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(
                c"It is not a list of schema names; write it as search_path is written, e.g. 'public, app'.".as_ptr(),
            );
        }
        ok
    }
}

/// Whether `pg_tenant.auto_enable` is on.
pub fn auto_enable() -> bool {
    AUTO_ENABLE.get()
}

/// The schema names of `pg_tenant.auto_enable_schemas`, parsed as
/// search_path is (22023 when the value is not such a list; the check hook
/// refuses such a value when it is set, so this is only a safeguard).
pub fn auto_enable_schemas() -> Result<Vec<String>> {
    let Some(raw) = AUTO_ENABLE_SCHEMAS.get() else {
        return Ok(Vec::new());
    };
    // SAFETY: a NUL-terminated string.
    unsafe { split_names(raw.as_ptr()) }.ok_or_else(|| {
        error::report(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "pg_tenant.auto_enable_schemas is not a list of schema names: {}",
                raw.to_string_lossy()
            ),
            "Write it as search_path is written, e.g. SET pg_tenant.auto_enable_schemas = 'public, app'.",
        )
    })
}

/// The names of a list written as search_path is, None when it does not
/// parse. SplitIdentifierString scribbles on a palloc'd copy; the names are
/// copied out before it is freed.
///
/// # Safety
/// `raw` is a NUL-terminated string.
unsafe fn split_names(raw: *const std::ffi::c_char) -> Option<Vec<String>> {
    unsafe {
        let copy = pg_sys::pstrdup(raw);
        let mut list: *mut pg_sys::List = std::ptr::null_mut();
        let parsed = pg_sys::SplitIdentifierString(copy, b',' as std::ffi::c_char, &mut list);
        let names = parsed.then(|| {
            PgList::<std::ffi::c_char>::from_pg(list)
                .iter_ptr()
                .map(|name| CStr::from_ptr(name).to_string_lossy().into_owned())
                .collect()
        });
        pg_sys::list_free(list);
        pg_sys::pfree(copy.cast());
        names
    }
}

/// The configured mode.
pub fn mode() -> DdlGuard {
    DDL_GUARD.get()
}

/// Runs `f` as pg_tenant's own DDL: the guard lets its statements through.
pub fn own<R>(f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            OWN_DDL.with(|depth| depth.set(depth.get().saturating_sub(1)));
        }
    }
    OWN_DDL.with(|depth| depth.set(depth.get() + 1));
    let _leave = Leave;
    f()
}

/// Whether pg_tenant's own DDL is running.
pub fn is_own() -> bool {
    OWN_DDL.with(Cell::get) > 0
}

/// At the end of every transaction: nothing of pg_tenant's runs any more
/// (an error raised inside `own` unwinds through it, but fail safe).
pub fn transaction_ended() {
    OWN_DDL.with(|depth| depth.set(0));
}
