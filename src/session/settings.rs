//! Session settings: the context an application names for each transaction
//! (`app.current_tenant`, `app.current_user_id`, `app.bypass_rls`) and
//! `pg_tenant.context_scope`, defined when the library loads.
//!
//! `app.current_tenant` is read by every statement on a tenant-scoped table
//! (and by the fill and quota triggers for every row), so Postgres hands
//! each new value to `assign_current_tenant`, which parses it once, instead
//! of every read looking the setting up by name and parsing the text again.
//! A value set before the library loaded (a placeholder) is handed over the
//! same way when it loads.
//!
//! Every read refuses a value that outlives its transaction (SET without
//! LOCAL, ALTER ROLE ... SET, a startup option: the classic leak behind a
//! transaction pooler), judged from Postgres' own record of the setting.
//! Whether the tenant named exists and is active is the enforcement layer's
//! business (`enforce::current`); this layer reads no table.

use super::epoch;
use crate::error::{self, Result};
use crate::names::{BYPASS_REASON_SETTING, BYPASS_SETTING, TENANT_SETTING, USER_SETTING};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum, Uuid};
use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// What `app.current_tenant` holds, parsed when it was set.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TenantSetting {
    /// NULL or '' (a transaction-local value reads back as '' once its
    /// transaction ended).
    Unset,
    /// A tenant id, and the registry epoch in which this session last found
    /// the tenant active after the setting changed (0: not yet).
    Tenant { id: [u8; 16], verified_in: u64 },
    /// Anything else: reading the tenant raises 22P02.
    NotUuid,
}

impl TenantSetting {
    fn parse(value: Option<&[u8]>) -> TenantSetting {
        match value {
            None | Some(b"") => TenantSetting::Unset,
            Some(text) => match parse_uuid(text) {
                Some(id) => TenantSetting::Tenant {
                    id: *id.as_bytes(),
                    verified_in: 0,
                },
                None => TenantSetting::NotUuid,
            },
        }
    }
}

/// A value of this backend's in a plain static.
///
/// A backend runs Postgres, and pg_tenant's code, on one thread (pgrx checks
/// it on every call into Postgres). thread_local! would say the same, but
/// from a shared library each access is a call to __tls_get_addr, and this
/// value is read by every statement (pgrx's `GucSetting` is a `Cell` in a
/// static for the same reason).
struct BackendCell<T>(Cell<T>);

// SAFETY: only the backend's one thread runs pg_tenant's code (see above).
unsafe impl<T: Send> Sync for BackendCell<T> {}

impl<T: Copy> BackendCell<T> {
    const fn new(value: T) -> Self {
        BackendCell(Cell::new(value))
    }

    fn get(&self) -> T {
        self.0.get()
    }

    fn set(&self, value: T) {
        self.0.set(value)
    }
}

/// `app.current_tenant` as parsed by `assign_current_tenant`.
static CURRENT_TENANT: BackendCell<TenantSetting> = BackendCell::new(TenantSetting::Unset);

/// The storage Postgres keeps the settings' text in.
static CURRENT_TENANT_TEXT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static CURRENT_USER_TEXT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static BYPASS_TEXT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// `pg_tenant.context_scope`: whether a context may outlive its transaction.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ContextScope {
    /// The default: a tenant, user or bypass request must be named for the
    /// current transaction only (`set_config(..., true)`, `SET LOCAL`).
    #[name = c"transaction"]
    Transaction,
    /// Session-level values are accepted too, for applications that keep one
    /// connection per user and never share it through a pooler.
    #[name = c"session"]
    Session,
}

static CONTEXT_SCOPE: GucSetting<ContextScope> =
    GucSetting::<ContextScope>::new(ContextScope::Transaction);

/// Postgres' own record of each context setting (value, source and the stack
/// of values to restore at the end of each (sub)transaction), found once
/// when the settings are defined. Read to tell a transaction-local value
/// from one that outlives its transaction.
static TENANT_GUC: AtomicPtr<pg_sys::config_generic> = AtomicPtr::new(std::ptr::null_mut());
static USER_GUC: AtomicPtr<pg_sys::config_generic> = AtomicPtr::new(std::ptr::null_mut());
static BYPASS_GUC: AtomicPtr<pg_sys::config_generic> = AtomicPtr::new(std::ptr::null_mut());

/// Set when the library was loaded during a parallel operation while a
/// context setting held a value: Postgres then cannot hand that value over
/// to pg_tenant's own setting ("cannot be set during a parallel operation")
/// and drops it. Reads of the context fail (instead of acting with no
/// tenant) until the transaction ends.
static LOST_AT_LOAD: AtomicBool = AtomicBool::new(false);

/// Defines the context settings; called from `_PG_init`.
///
/// pg_tenant's functions are never PARALLEL SAFE, so a parallel worker never
/// runs them, and those that take a `SET search_path` clause (whose library
/// Postgres loads only at their first call) are PARALLEL UNSAFE, so a query
/// calling them never runs in parallel mode. The library can still be
/// loaded during a parallel operation by a user's function that calls one
/// of pg_tenant's: `LOST_AT_LOAD` makes that fail loudly.
/// Sets a setting for the current transaction only, as
/// set_config(name, value, true) does (Postgres raises any error).
pub fn set_local(name: &std::ffi::CStr, value: &str) {
    let value = std::ffi::CString::new(value).expect("a setting value has no NUL");
    // SAFETY: plain settings call; errors are raised by Postgres (elevel 0
    // is ERROR for a session-level source).
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            0,
            false,
        );
    }
}

/// No other pg_tenant.* name may be set from now on (a typo is an error,
/// not a silent placeholder): called by `_PG_init` after every layer
/// defined its settings.
pub fn reserve_prefix() {
    #[cfg(not(any(feature = "pg13", feature = "pg14")))]
    // SAFETY: called once from _PG_init.
    unsafe {
        pg_sys::MarkGUCPrefixReserved(c"pg_tenant".as_ptr())
    };
}

pub fn init() {
    let in_parallel_mode = unsafe { pg_sys::IsInParallelMode() };
    let before = in_parallel_mode.then(|| {
        [TENANT_SETTING, USER_SETTING, BYPASS_SETTING]
            .map(|name| setting_bytes(name).map(<[u8]>::to_vec))
    });
    // SAFETY: the assign hook is #[pg_guard]ed and cannot fail.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            TENANT_SETTING,
            c"pg_tenant: the UUID of the tenant this transaction acts for.",
            c"Set it per transaction: SELECT set_config('app.current_tenant', '<uuid>', true). Policies made by tenant_enable show only this tenant's rows; unset, they show none. A value that outlives its transaction (SET without LOCAL, ALTER ROLE ... SET, a startup option) is refused unless pg_tenant.context_scope = 'session'.",
            &CURRENT_TENANT_TEXT,
            GucContext::Userset,
            GucFlags::default(),
            None,
            Some(assign_current_tenant),
            None,
        );
    }
    GucRegistry::define_string_guc(
        USER_SETTING,
        c"pg_tenant: the UUID of the application user this transaction acts for.",
        c"Set it per transaction: SELECT set_config('app.current_user_id', '<uuid>', true). Read by current_tenant_user_id() and tenant_has_role().",
        &CURRENT_USER_TEXT,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        BYPASS_SETTING,
        c"pg_tenant: on asks for cross-tenant access for this transaction.",
        c"Honoured only for members of the role tenant_bypass: SELECT set_config('app.bypass_rls', 'on', true).",
        &BYPASS_TEXT,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"pg_tenant.context_scope",
        c"pg_tenant: whether the tenant context may outlive its transaction (transaction or session).",
        c"transaction (default): app.current_tenant, app.current_user_id and app.bypass_rls set for longer than the current transaction (SET without LOCAL, set_config(..., false), ALTER ROLE/DATABASE ... SET, startup options) are refused when read, because behind a transaction pooler the next client of the connection would inherit them. session: such values are accepted (one connection per user, no pooler).",
        &CONTEXT_SCOPE,
        GucContext::Suset,
        GucFlags::default(),
    );
    super::token::define();
    super::source::define();
    super::ddl::define();
    TENANT_GUC.store(find_setting(TENANT_SETTING), Ordering::Relaxed);
    USER_GUC.store(find_setting(USER_SETTING), Ordering::Relaxed);
    BYPASS_GUC.store(find_setting(BYPASS_SETTING), Ordering::Relaxed);
    if let Some(before) = before {
        let after = [TENANT_SETTING, USER_SETTING, BYPASS_SETTING]
            .map(|name| setting_bytes(name).map(<[u8]>::to_vec));
        if before != after {
            LOST_AT_LOAD.store(true, Ordering::Relaxed);
        }
    }
}

/// Postgres' record of a setting pg_tenant has just defined. The record
/// stays where it is for the life of the backend.
fn find_setting(name: &CStr) -> *mut pg_sys::config_generic {
    // SAFETY: Postgres' list of settings, read on the backend's own thread.
    unsafe {
        #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
        let (all, count) = (pg_sys::get_guc_variables(), pg_sys::GetNumConfigOptions());
        #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
        let (all, count) = {
            let mut count = 0;
            (pg_sys::get_guc_variables(&mut count), count)
        };
        for i in 0..usize::try_from(count).unwrap_or(0) {
            let setting = *all.add(i);
            if !setting.is_null() && CStr::from_ptr((*setting).name) == name {
                return setting;
            }
        }
    }
    std::ptr::null_mut()
}

/// How a context value that outlives its transaction was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LongLived {
    /// `SET` without `LOCAL`, or `set_config(..., false)`.
    Session,
    /// `ALTER ROLE` / `ALTER DATABASE ... SET`.
    RoleOrDatabase,
    /// A startup option of the connection (`PGOPTIONS=-c ...`, `options=`).
    Connection,
    /// postgresql.conf, `ALTER SYSTEM`, the server's command line.
    Server,
}

impl LongLived {
    /// The setting's current value was not named for the current transaction
    /// only. A value is transaction-local when it was given in this session
    /// (not stored for the role, database, connection or server) and the last
    /// change Postgres recorded for it is `SET LOCAL`/`set_config(..., true)`
    /// (GUC_LOCAL, or GUC_SET_LOCAL over an earlier SET) or a function's own
    /// `SET` clause (GUC_SAVE, undone when the function returns). Everything
    /// else — no change in this transaction, or a plain SET — lasts for the
    /// session.
    ///
    /// # Safety
    /// `setting` is NULL or Postgres' record of a setting.
    unsafe fn of(setting: *const pg_sys::config_generic) -> Option<LongLived> {
        if setting.is_null() {
            // Not defined by this library (cannot happen once loaded): fail closed.
            return Some(LongLived::Session);
        }
        let setting = unsafe { &*setting };
        use pg_sys::GucSource::*;
        // Where the value in effect came from. A value stored for the role,
        // the database, the connection or the server stays long-lived even
        // when the transaction brought it back with SET LOCAL ... TO DEFAULT
        // (Postgres then records the stored value's own source).
        match setting.source {
            PGC_S_DATABASE | PGC_S_USER | PGC_S_DATABASE_USER => {
                return Some(LongLived::RoleOrDatabase)
            }
            PGC_S_CLIENT => return Some(LongLived::Connection),
            PGC_S_DEFAULT
            | PGC_S_DYNAMIC_DEFAULT
            | PGC_S_ENV_VAR
            | PGC_S_FILE
            | PGC_S_ARGV
            | PGC_S_GLOBAL => return Some(LongLived::Server),
            _ => {}
        }
        if !setting.stack.is_null() {
            use pg_sys::GucStackState::{GUC_LOCAL, GUC_SAVE, GUC_SET_LOCAL};
            if matches!(
                unsafe { (*setting.stack).state },
                GUC_LOCAL | GUC_SET_LOCAL | GUC_SAVE
            ) {
                return None;
            }
        }
        Some(LongLived::Session)
    }

    fn how(self) -> &'static str {
        match self {
            LongLived::Session => "for the whole session (SET without LOCAL, or set_config(..., false))",
            LongLived::RoleOrDatabase => "by ALTER ROLE or ALTER DATABASE ... SET, for every session of that role or database",
            LongLived::Connection => "when the connection started (a startup option such as PGOPTIONS='-c ...' or options= in the connection string), for the whole session",
            LongLived::Server => "in the server configuration (postgresql.conf, ALTER SYSTEM or the command line), for every session",
        }
    }

    fn undo(self, setting: &str) -> String {
        match self {
            LongLived::Session => format!("RESET {setting}"),
            LongLived::RoleOrDatabase => format!("ALTER ROLE <role> RESET {setting} (or ALTER DATABASE <db> RESET {setting}) and reconnect"),
            LongLived::Connection => "remove the option from the connection settings".to_string(),
            LongLived::Server => format!("ALTER SYSTEM RESET {setting} (or edit postgresql.conf) and reload"),
        }
    }
}

/// Refuses to read the context where it cannot be trusted: in a parallel
/// worker (pg_tenant's functions are not parallel safe; a user's function
/// marked PARALLEL SAFE may still call one there), and in a transaction in
/// which the library was loaded during a parallel operation and the
/// context set before was lost (`LOST_AT_LOAD`).
fn refuse_untrusted_context() -> Result<()> {
    if unsafe { pg_sys::ParallelWorkerNumber } >= 0 {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_INVALID_TRANSACTION_STATE,
            "the tenant context cannot be read in a parallel worker",
            "A function that calls pg_tenant's context functions must be PARALLEL RESTRICTED or UNSAFE: ALTER FUNCTION ... PARALLEL RESTRICTED.",
        ));
    }
    if LOST_AT_LOAD.load(Ordering::Relaxed) {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_INVALID_TRANSACTION_STATE,
            "pg_tenant's library was loaded during a parallel operation, which dropped the tenant context set before it",
            "Retry in a new transaction; to avoid it, load pg_tenant when sessions start (ALTER DATABASE ... SET session_preload_libraries = 'pg_tenant'), or mark the function that calls pg_tenant PARALLEL UNSAFE.",
        ));
    }
    Ok(())
}

/// Refuses a context setting (non-empty) whose value outlives the current
/// transaction, unless a superuser set `pg_tenant.context_scope = 'session'`.
/// Behind a transaction pooler such a value is the classic leak: the next
/// client handed the same server connection inherits it. The value itself is
/// not named: it may be another client's tenant.
fn refuse_long_lived(setting: &AtomicPtr<pg_sys::config_generic>, name: &CStr) -> Result<()> {
    refuse_long_lived_record(setting.load(Ordering::Relaxed), name)
}

fn refuse_long_lived_record(setting: *const pg_sys::config_generic, name: &CStr) -> Result<()> {
    if CONTEXT_SCOPE.get() == ContextScope::Session {
        return Ok(());
    }
    // SAFETY: NULL or a record `find_setting` returned, valid for the backend's life.
    let Some(how) = (unsafe { LongLived::of(setting) }) else {
        return Ok(());
    };
    let name = name.to_string_lossy();
    Err(error::report(
        PgSqlErrorCode::ERRCODE_INVALID_TRANSACTION_STATE,
        format!(
            "{name} was set {}, not for this transaction only",
            how.how()
        ),
        format!(
            "Behind a connection pooler the next client of this connection would inherit it. Name it inside each transaction: SELECT set_config('{name}', '<value>', true) (or SET LOCAL), and clear the long-lived value: {}. Applications that keep one connection per user may allow session values: a superuser sets pg_tenant.context_scope = 'session'.",
            how.undo(&name)
        ),
    ))
}

/// The bytes of a custom setting, or None when it is unset or empty (a
/// transaction-local setting reads back as '' once its transaction ended).
/// Borrowed from the setting's storage: use it before anything can change it.
fn setting_bytes(name: &CStr) -> Option<&'static [u8]> {
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if value.is_null() {
        return None;
    }
    let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
    (!bytes.is_empty()).then_some(bytes)
}

/// A setting of a proxy (`request.jwt.claims`, `hasura.user`, ...), read
/// as context: its text, None when unset or empty; 25000 when it outlives
/// the transaction, under the same rule as pg_tenant's own settings.
pub(super) fn read_foreign(name: &CStr) -> Result<Option<&'static [u8]>> {
    refuse_untrusted_context()?;
    let record = foreign_record(name);
    if record.is_null() {
        // Never set in this session.
        return Ok(None);
    }
    // SAFETY: the record Postgres returned just now; a placeholder is a
    // string setting whose value lives in its own storage.
    let value = unsafe {
        if (*record).vartype == pg_sys::config_type::PGC_STRING {
            *(*record.cast::<pg_sys::config_string>()).variable
        } else {
            pg_sys::GetConfigOption(name.as_ptr(), true, false) as *mut c_char
        }
    };
    if value.is_null() {
        return Ok(None);
    }
    let bytes = unsafe { CStr::from_ptr(value) }.to_bytes();
    if bytes.is_empty() {
        return Ok(None);
    }
    refuse_long_lived_record(record, name)?;
    Ok(Some(bytes))
}

/// Postgres' record of a proxy's setting, looked up on every read: it is a
/// placeholder, which Postgres frees and replaces should a library define a
/// real setting of that name later, so no pointer to it is kept. Names
/// compare as Postgres compares them (ASCII case-insensitively).
fn foreign_record(name: &CStr) -> *const pg_sys::config_generic {
    // SAFETY: Postgres' table of settings, read on the backend's own thread.
    unsafe {
        #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
        {
            pg_sys::find_option(name.as_ptr(), false, true, pg_sys::WARNING as i32)
        }
        #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
        {
            // Up to 15 the settings are an array kept sorted by that comparison.
            let all = pg_sys::get_guc_variables();
            let count = usize::try_from(pg_sys::GetNumConfigOptions()).unwrap_or(0);
            if all.is_null() {
                return std::ptr::null();
            }
            let settings = std::slice::from_raw_parts(all, count);
            settings
                .binary_search_by(|setting| {
                    guc_name_order(CStr::from_ptr((**setting).name).to_bytes(), name.to_bytes())
                })
                .map_or(std::ptr::null(), |i| settings[i] as *const _)
        }
    }
}

/// Postgres' order of setting names (guc_name_compare): ASCII letters
/// without case, bytes otherwise.
#[cfg_attr(
    not(any(feature = "pg13", feature = "pg14", feature = "pg15")),
    allow(dead_code)
)]
fn guc_name_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.iter().map(u8::to_ascii_lowercase))
}

fn parse_uuid(text: &[u8]) -> Option<Uuid> {
    uuid::Uuid::try_parse_ascii(text)
        .ok()
        .map(|id| Uuid::from_bytes(*id.as_bytes()))
}

/// A UUID-valued setting: None when unset, 22P02 when not a UUID, 25000
/// when it outlives the transaction (see `refuse_long_lived`).
fn read_uuid_setting(
    name: &CStr,
    record: &AtomicPtr<pg_sys::config_generic>,
) -> Result<Option<Uuid>> {
    refuse_untrusted_context()?;
    let Some(bytes) = setting_bytes(name) else {
        return Ok(None);
    };
    refuse_long_lived(record, name)?;
    parse_uuid(bytes)
        .map(Some)
        .ok_or_else(|| not_a_uuid(name, bytes))
}

/// 22P02 naming the setting and its value.
fn not_a_uuid(name: &CStr, value: &[u8]) -> ErrorReport {
    let setting = name.to_string_lossy();
    error::invalid_uuid(
        &setting,
        &String::from_utf8_lossy(value),
        format!(
            "Set it to a UUID: SELECT set_config('{setting}', '<uuid>', true); or RESET {setting}."
        ),
    )
}

/// Postgres' assign hook of `app.current_tenant`: runs for every new value
/// (set_config, SET, RESET, the end of a transaction-local value, a
/// rolled-back savepoint, a placeholder's value when the library loads).
/// It must not fail: a value that is not a UUID is remembered as such and
/// raised when the tenant is read.
#[pg_guard]
unsafe extern "C-unwind" fn assign_current_tenant(value: *const c_char, _extra: *mut c_void) {
    // SAFETY: Postgres passes NULL or the new value's text.
    let text = (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) }.to_bytes());
    CURRENT_TENANT.set(TenantSetting::parse(text));
}

/// The tenant named for this transaction, as parsed, and whether this
/// session found it active since the setting or the registry last changed:
/// None when unset; 25000 when the value outlives its transaction or cannot
/// be trusted here, 22P02 when it is not a UUID.
#[inline]
pub fn tenant() -> Result<Option<(Uuid, bool)>> {
    refuse_untrusted_context()?;
    let setting = CURRENT_TENANT.get();
    if setting == TenantSetting::Unset {
        return Ok(None);
    }
    refuse_long_lived(&TENANT_GUC, TENANT_SETTING)?;
    match setting {
        TenantSetting::Tenant { id, verified_in } => Ok(Some((
            Uuid::from_bytes(id),
            verified_in == epoch::current(),
        ))),
        _ => Err(not_a_uuid(
            TENANT_SETTING,
            setting_bytes(TENANT_SETTING).unwrap_or_default(),
        )),
    }
}

/// Remembers that `id`, the tenant of the setting, was found active: it is
/// not looked up again until the setting or the registry epoch changes.
pub fn mark_verified(id: &Uuid) {
    if let TenantSetting::Tenant { id: current, .. } = CURRENT_TENANT.get() {
        if current == *id.as_bytes() {
            CURRENT_TENANT.set(TenantSetting::Tenant {
                id: current,
                verified_in: epoch::current(),
            });
        }
    }
}

/// The acting application user (`app.current_user_id`), or None.
pub fn user() -> Result<Option<Uuid>> {
    read_uuid_setting(USER_SETTING, &USER_GUC)
}

/// Whether the transaction asked for cross-tenant access
/// (`app.bypass_rls`, any Postgres boolean spelling; 22P02 otherwise).
pub fn bypass_requested() -> Result<bool> {
    refuse_untrusted_context()?;
    let Some(text) = setting_bytes(BYPASS_SETTING).map(|b| String::from_utf8_lossy(b).into_owned())
    else {
        return Ok(false);
    };
    match parse_bool(&text) {
        // A long-lived "off" (ALTER ROLE job SET app.bypass_rls = off) asks
        // for nothing and is harmless.
        Some(false) => Ok(false),
        Some(true) => {
            refuse_long_lived(&BYPASS_GUC, BYPASS_SETTING)?;
            Ok(true)
        }
        None => {
            // Not echoed when long-lived: behind a pooler it is another
            // client's value.
            refuse_long_lived(&BYPASS_GUC, BYPASS_SETTING)?;
            Err(error::report(
                PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
                format!(
                    "app.bypass_rls is set to \"{}\", which is not a boolean",
                    error::shorten(&text)
                ),
                "Use on or off: SELECT set_config('app.bypass_rls', 'on', true);",
            ))
        }
    }
}

/// Whether app.bypass_rls holds anything at all (the cheap test before
/// `bypass_requested`, for the executor hook).
pub fn bypass_set() -> bool {
    setting_bytes(BYPASS_SETTING).is_some()
}

/// The reason the transaction gives for using the bypass
/// (`app.bypass_reason`), trimmed; None when unset or blank. A reason set
/// for the session (`SET`, `set_config(..., false)`) or the connection is
/// refused (25000) like a long-lived context: behind a pooler it is another
/// client's, and the record would carry it. A standing reason stored for the
/// role or database (`ALTER ROLE job SET app.bypass_reason = ...`) or the
/// server is the job's own, and stands.
pub fn bypass_reason() -> Result<Option<String>> {
    let Some(bytes) = setting_bytes(BYPASS_REASON_SETTING) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(bytes).trim().to_string();
    if text.is_empty() {
        return Ok(None);
    }
    // SAFETY: NULL or the record Postgres returned just now.
    let how = unsafe { LongLived::of(foreign_record(BYPASS_REASON_SETTING)) };
    if matches!(how, Some(LongLived::Session | LongLived::Connection)) {
        refuse_long_lived_record(foreign_record(BYPASS_REASON_SETTING), BYPASS_REASON_SETTING)?;
    }
    Ok(Some(text))
}

/// The end of a transaction (called by `epoch`'s callback).
pub fn transaction_ended() {
    super::ddl::transaction_ended();
    LOST_AT_LOAD.store(false, Ordering::Relaxed);
    super::token::transaction_ended();
}

/// Postgres' own boolean spellings (on/off, true/false, yes/no, 1/0, ...).
fn parse_bool(text: &str) -> Option<bool> {
    let text = std::ffi::CString::new(text).ok()?;
    let mut value = false;
    unsafe { pg_sys::parse_bool(text.as_ptr(), &mut value) }.then_some(value)
}

#[cfg(test)]
mod unit_tests {
    use super::TenantSetting;

    #[test]
    fn setting_is_parsed_once_into_what_reads_need() {
        let id = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        let unverified = TenantSetting::Tenant { id, verified_in: 0 };
        assert_eq!(TenantSetting::parse(None), TenantSetting::Unset);
        assert_eq!(TenantSetting::parse(Some(b"")), TenantSetting::Unset);
        assert_eq!(
            TenantSetting::parse(Some(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            unverified
        );
        assert_eq!(
            TenantSetting::parse(Some(b"A0EEBC999C0B4EF8BB6D6BB9BD380A11")),
            unverified
        );
        assert_eq!(
            TenantSetting::parse(Some(b"acme-corp")),
            TenantSetting::NotUuid
        );
        assert_eq!(
            TenantSetting::parse(Some(b" a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            TenantSetting::NotUuid
        );
    }
}
