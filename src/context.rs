//! Session context: which tenant and which user this transaction acts for.
//!
//! Applications set `app.current_tenant` (and `app.current_user_id`) with
//! `set_config(..., true)`, which lasts until the end of the transaction — safe
//! behind PgBouncer in transaction mode. Policies call `current_tenant_id()`
//! wrapped in `(SELECT ...)` so Postgres evaluates it once per statement.

use crate::error::{self, Result};
use crate::registry::{self, TenantStatus};
use pgrx::prelude::*;
use pgrx::Uuid;
use std::cell::Cell;
use std::ffi::{c_void, CStr};

pub const TENANT_SETTING: &CStr = c"app.current_tenant";
pub const USER_SETTING: &CStr = c"app.current_user_id";
pub const BYPASS_SETTING: &CStr = c"app.bypass_rls";

thread_local! {
    /// The OID of tenant.tenants, remembered for the invalidation callback
    /// (which must not read the catalogs).
    static REGISTRY_OID: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    /// Whether the current transaction changed the registry. Only then can an
    /// abort leave the caches holding something that never committed; other
    /// aborts (an application's error, a refused quota) keep them.
    static CHANGED_REGISTRY: Cell<bool> = const { Cell::new(false) };
}

/// Registers the callbacks that clear the cache; called from `_PG_init`.
pub fn init() {
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_end), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(forget_on_subxact_abort), std::ptr::null_mut());
        pg_sys::CacheRegisterRelcacheCallback(
            Some(on_relcache_invalidation),
            pg_sys::Datum::from(0),
        );
    }
}

/// Forgets every cached tenant record (status, plan, limits), member role,
/// quota limit and the registry owner.
///
/// The session keeps these across transactions, so that a pooled connection
/// serving many tenants reads the registry once per tenant, not once per
/// transaction. They are forgotten:
/// - when any session changes tenant.tenants, tenant.members, the plans or
///   the limits: their triggers queue a relcache invalidation of
///   tenant.tenants, which every session processes (at its next transaction
///   start or lock) and hands to `on_relcache_invalidation`;
/// - when a (sub)transaction that changed the registry aborts, since it may
///   have cached what its own rolled-back changes produced.
pub fn forget_verified_tenant() {
    registry::forget_records();
    crate::members::forget_cached_role();
    crate::quota::limits::forget();
    crate::db::forget_registry_owner();
}

/// Queues an invalidation of tenant.tenants for every session (delivered at
/// commit; this session gets it at the end of the current command).
pub fn invalidate_everywhere() {
    CHANGED_REGISTRY.with(|changed| changed.set(true));
    if let Some(oid) = registry_oid() {
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(oid) };
    }
    forget_verified_tenant();
}

/// The OID of tenant.tenants (None before the extension exists).
fn registry_oid() -> Option<pg_sys::Oid> {
    let oid = unsafe {
        let schema = pg_sys::get_namespace_oid(c"tenant".as_ptr(), true);
        if schema == pg_sys::InvalidOid {
            return None;
        }
        pg_sys::get_relname_relid(c"tenants".as_ptr(), schema)
    };
    REGISTRY_OID.with(|cell| cell.set(oid));
    (oid != pg_sys::InvalidOid).then_some(oid)
}

unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let registry = REGISTRY_OID.with(|cell| cell.get());
    if relid == pg_sys::InvalidOid || registry == pg_sys::InvalidOid || relid == registry {
        forget_verified_tenant();
    }
}

unsafe extern "C-unwind" fn on_xact_end(event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    let aborted = event == pg_sys::XactEvent::XACT_EVENT_ABORT
        || event == pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT;
    let ended = aborted
        || event == pg_sys::XactEvent::XACT_EVENT_COMMIT
        || event == pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT
        || event == pg_sys::XactEvent::XACT_EVENT_PREPARE;
    if aborted && CHANGED_REGISTRY.with(|changed| changed.get()) {
        forget_verified_tenant();
    }
    if ended {
        CHANGED_REGISTRY.with(|changed| changed.set(false));
    }
}

unsafe extern "C-unwind" fn forget_on_subxact_abort(
    event: pg_sys::SubXactEvent::Type,
    _sub: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB
        && CHANGED_REGISTRY.with(|changed| changed.get())
    {
        forget_verified_tenant();
    }
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

/// A UUID-valued setting: None when unset, 22P02 when not a UUID. Parsed in
/// place, without copying: this runs for every statement and inserted row.
fn read_uuid_setting(name: &CStr) -> Result<Option<Uuid>> {
    let Some(bytes) = setting_bytes(name) else {
        return Ok(None);
    };
    match uuid::Uuid::try_parse_ascii(bytes) {
        Ok(id) => Ok(Some(Uuid::from_bytes(*id.as_bytes()))),
        Err(_) => {
            let setting = name.to_string_lossy();
            Err(error::invalid_uuid(
                &setting,
                &String::from_utf8_lossy(bytes),
                format!("Set it to a UUID: SELECT set_config('{setting}', '<uuid>', true); or RESET {setting}."),
            ))
        }
    }
}

/// The tenant of this session, checked against the registry: an unknown,
/// suspended or deleted tenant raises 42501 instead of silently showing (or
/// hiding) rows.
pub fn current_tenant() -> Result<Option<Uuid>> {
    let Some(id) = read_uuid_setting(TENANT_SETTING)? else {
        return Ok(None);
    };
    if registry::cached_status(&id) != Some(TenantStatus::Active) {
        // Known before anything is cached, for the invalidation callback.
        registry_oid();
        ensure_active(id)?;
    }
    Ok(Some(id))
}

/// Whether this session has `tenant` cached as active (for tests).
#[cfg(any(test, feature = "pg_test"))]
pub fn is_verified(tenant: &Uuid) -> bool {
    registry::cached_status(tenant) == Some(TenantStatus::Active)
}

fn ensure_active(id: Uuid) -> Result<()> {
    match registry::record(id)?.as_deref() {
        None => Err(error::insufficient_privilege(
            format!("tenant {id} named in app.current_tenant does not exist"),
            "Set app.current_tenant to the id of an existing tenant (see tenant_create).",
        )),
        Some(tenant) if tenant.status != TenantStatus::Active => Err(error::insufficient_privilege(
            format!(
                "tenant \"{}\" ({id}) is {}; its data cannot be accessed",
                tenant.slug,
                tenant.status.as_str()
            ),
            match tenant.status {
                TenantStatus::Suspended => "No session may act for a suspended tenant until an administrator reactivates it.",
                _ => "A deleted tenant's data is kept only until it is purged; no session may act for it.",
            },
        )),
        Some(_) => Ok(()),
    }
}

/// `current_tenant_id()`: the tenant this transaction acts for, or NULL.
#[pg_extern(stable, parallel_safe)]
fn current_tenant_id() -> Result<Option<Uuid>> {
    current_tenant()
}

/// The acting application user (`app.current_user_id`), or None.
pub fn current_user() -> Result<Option<Uuid>> {
    read_uuid_setting(USER_SETTING)
}

/// `current_tenant_user_id()`: the acting user (`app.current_user_id`), or NULL.
#[pg_extern(stable, parallel_safe)]
fn current_tenant_user_id() -> Result<Option<Uuid>> {
    current_user()
}

/// `tenant_bypass_requested()`: whether the session asked for cross-tenant
/// access with `app.bypass_rls = on`. Asking is not enough: this function is
/// only consulted by the `tenant_bypass` policy, which Postgres applies to
/// members of the `tenant_bypass` role alone.
#[pg_extern(stable, parallel_safe)]
fn tenant_bypass_requested() -> Result<bool> {
    let Some(text) = setting_bytes(BYPASS_SETTING).map(|b| String::from_utf8_lossy(b).into_owned())
    else {
        return Ok(false);
    };
    parse_bool(&text).ok_or_else(|| {
        error::report(
            PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
            format!("app.bypass_rls is set to \"{text}\", which is not a boolean"),
            "Use on or off: SELECT set_config('app.bypass_rls', 'on', true);",
        )
    })
}

/// Postgres' own boolean spellings (on/off, true/false, yes/no, 1/0, ...).
fn parse_bool(text: &str) -> Option<bool> {
    let text = std::ffi::CString::new(text).ok()?;
    let mut value = false;
    unsafe { pg_sys::parse_bool(text.as_ptr(), &mut value) }.then_some(value)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn unset_and_empty_context_is_null() {
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_id()").unwrap(),
            None
        );
        Spi::run("SELECT set_config('app.current_tenant', '', true)").unwrap();
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_id()").unwrap(),
            None
        );
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_user_id()").unwrap(),
            None
        );
    }

    #[pg_test]
    fn context_returns_the_active_tenant() {
        let id = Spi::get_one::<pgrx::Uuid>("SELECT tenant_create('Acme')")
            .unwrap()
            .unwrap();
        Spi::run(&format!(
            "SELECT set_config('app.current_tenant', '{id}', true)"
        ))
        .unwrap();
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_id()").unwrap(),
            Some(id)
        );
    }

    #[pg_test(
        error = "pg_tenant: app.current_tenant is set to \"not-a-uuid\", which is not a UUID"
    )]
    fn malformed_context_is_an_error() {
        Spi::run("SELECT set_config('app.current_tenant', 'not-a-uuid', true)").unwrap();
        Spi::run("SELECT current_tenant_id()").unwrap();
    }

    #[pg_test(error = "pg_tenant: app.current_user_id is set to \"42\", which is not a UUID")]
    fn malformed_user_is_an_error() {
        Spi::run("SELECT set_config('app.current_user_id', '42', true)").unwrap();
        Spi::run("SELECT current_tenant_user_id()").unwrap();
    }

    #[pg_test(
        error = "pg_tenant: tenant \"soon\" (8a4c0b7e-5f1d-4d6e-9a63-2f0c1d9e7b10) is suspended; its data cannot be accessed"
    )]
    fn suspension_in_the_same_transaction_is_seen_at_once() {
        // The per-transaction cache must not hide a status change made later
        // in the same transaction.
        let id = "8a4c0b7e-5f1d-4d6e-9a63-2f0c1d9e7b10";
        Spi::run(&format!(
            "INSERT INTO tenant.tenants (id, slug, name) VALUES ('{id}', 'soon', 'Soon')"
        ))
        .unwrap();
        Spi::run(&format!(
            "SELECT set_config('app.current_tenant', '{id}', true)"
        ))
        .unwrap();
        assert_eq!(
            Spi::get_one::<String>("SELECT current_tenant_id()::text")
                .unwrap()
                .as_deref(),
            Some(id)
        );
        Spi::run("UPDATE tenant.tenants SET status = 'suspended' WHERE slug = 'soon'").unwrap();
        Spi::run("SELECT current_tenant_id()").unwrap();
    }

    #[pg_test]
    fn bypass_request_reads_postgres_booleans() {
        assert_eq!(
            Spi::get_one::<bool>("SELECT tenant_bypass_requested()").unwrap(),
            Some(false)
        );
        for (value, expected) in [
            ("on", true),
            ("true", true),
            ("1", true),
            ("off", false),
            ("no", false),
        ] {
            Spi::run(&format!(
                "SELECT set_config('app.bypass_rls', '{value}', true)"
            ))
            .unwrap();
            assert_eq!(
                Spi::get_one::<bool>("SELECT tenant_bypass_requested()").unwrap(),
                Some(expected),
                "{value}"
            );
        }
    }
}
