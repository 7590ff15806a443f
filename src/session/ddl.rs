//! The DDL guard's setting, `pg_tenant.ddl_guard` (superuser-only: `error`,
//! the default, `warn` or `off`), and whether the DDL running now is
//! pg_tenant's own (`tenant_enable`, `tenant_disable`), which the guard lets
//! through.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::cell::Cell;

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
