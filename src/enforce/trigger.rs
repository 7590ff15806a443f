//! pg_tenant's trigger plumbing: the entry point of every trigger function
//! (`entry`, declared with `trigger_function!`; their `CREATE FUNCTION` is in
//! `sql/triggers.sql`), and `_tenant_registry_changed`, the statement
//! trigger on the registry tables that moves every session's registry epoch
//! on. The fill trigger is `fill`, the usage-counting trigger `usage`.

use crate::error;
use crate::names::TENANTS_TABLE;
use crate::session::epoch;
use crate::store::lookup;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// Runs the body of one of pg_tenant's trigger functions. A direct call
/// (`SELECT tenant_set_id()`) is refused with 39P01 (trigger protocol
/// violated) naming the function; an error of the body is raised with its
/// own SQLSTATE. pg_tenant declares its trigger functions itself
/// (`trigger_function!`) because pgrx's `#[pg_trigger]` wrapper reports both
/// as internal errors (XX000).
///
/// # Safety
/// `fcinfo` is the call's info as Postgres passed it.
pub unsafe fn entry(
    fcinfo: pg_sys::FunctionCallInfo,
    function: &str,
    body: for<'a> fn(
        &'a PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ErrorReport>,
) -> pg_sys::Datum {
    // SAFETY: Postgres passes a valid fcinfo; from_fcinfo checks it is a trigger call.
    let trigger = match unsafe { fcinfo.as_ref().map(|info| PgTrigger::from_fcinfo(info)) } {
        Some(Ok(trigger)) => trigger,
        _ => error::raise(error::report(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            format!("{function}() is a trigger function and can only be called as a trigger"),
            "tenant_enable attaches pg_tenant's triggers to tenant-scoped tables; do not call them directly.",
        )),
    };
    // Bound before returning: a tail expression's temporaries would outlive `trigger`.
    #[allow(clippy::let_and_return)]
    let datum = match body(&trigger) {
        Ok(Some(row)) => row.into_trigger_datum().unwrap_or(pg_sys::Datum::from(0)),
        Ok(None) => pg_sys::Datum::from(0),
        Err(e) => error::raise(e),
    };
    datum
}

/// Declares a C trigger function `$name` (and its V1 info record) whose body
/// is `$body`, run through `entry`. Its `CREATE FUNCTION` is in
/// `sql/triggers.sql`.
#[macro_export]
macro_rules! trigger_function {
    ($name:ident, $finfo:ident, $body:path) => {
        #[no_mangle]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static ::pgrx::pg_sys::Pg_finfo_record {
            const V1: ::pgrx::pg_sys::Pg_finfo_record =
                ::pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        #[::pgrx::pg_guard]
        #[no_mangle]
        #[doc(hidden)]
        pub unsafe extern "C-unwind" fn $name(
            fcinfo: ::pgrx::pg_sys::FunctionCallInfo,
        ) -> ::pgrx::pg_sys::Datum {
            let (name, body) = (stringify!($name), $body);
            // SAFETY: called by Postgres with its fcinfo.
            unsafe { $crate::enforce::trigger::entry(fcinfo, name, body) }
        }
    };
}

// Statement trigger on `tenant.tenants`, `tenant.members`, `tenant.plans`
// and the row-limit tables: a change may alter a tenant's status, a member's
// role or a limit, so every session must forget what it cached (see
// `session::epoch`).
trigger_function!(
    _tenant_registry_changed,
    pg_finfo__tenant_registry_changed,
    registry_changed
);

fn registry_changed<'a>(
    _trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ErrorReport> {
    epoch::registry_changed(lookup::registry_table(TENANTS_TABLE)?);
    Ok(None)
}
