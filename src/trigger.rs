//! pg_tenant's trigger functions:
//! - `tenant_set_id`, the BEFORE INSERT trigger that tenant_enable attaches to
//!   every tenant-scoped table, so applications insert without naming
//!   tenant_id and the row lands in the tenant of the session;
//! - `_tenant_registry_changed`, the statement trigger on the registry
//!   tables that keeps every session's caches (tenant status, member roles,
//!   quota limits) honest.
//!
//! The usage-counting trigger lives with the quotas (`quota::counting`).

use crate::context;
use crate::error;
use crate::table_state::{TENANT_COLUMN, TENANT_COLUMN_C};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgTupleDesc;

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
            unsafe { $crate::trigger::entry(fcinfo, name, body) }
        }
    };
}

// Fills `tenant_id` from `app.current_tenant` when the row leaves it NULL.
// A row that names its tenant keeps it: the policy's WITH CHECK then decides
// (only a bypassing session may write into another tenant). A row with no
// tenant and no tenant in context is refused with a message that says how to
// set one.
trigger_function!(tenant_set_id, pg_finfo_tenant_set_id, fill_row);

fn fill_row<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ErrorReport> {
    fill_tenant_id(trigger).map(Some)
}

/// The row to insert: unchanged when it names its tenant, otherwise a copy
/// with tenant_id set. Works on the raw tuple by column number: this runs
/// for every inserted row, and pgrx's by-name tuple helpers cost more than
/// the rest of the trigger (benches/instructions.sh).
fn fill_tenant_id<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<PgHeapTuple<'a, AllocatedByPostgres>, ErrorReport> {
    let table = || {
        format!(
            "{}.{}",
            trigger.table_schema().unwrap_or_default(),
            trigger.table_name().unwrap_or_default()
        )
    };
    let row = trigger.new().ok_or_else(|| misuse(&table()))?;
    let data = trigger.trigger_data();
    // SAFETY: a row trigger's relation and tuple are valid for the whole call.
    let (tupdesc, tuple) = unsafe { ((*data.tg_relation).rd_att, data.tg_trigtuple) };
    let column = unsafe { pg_sys::SPI_fnumber(tupdesc, TENANT_COLUMN_C.as_ptr()) };
    if column <= 0 || unsafe { pg_sys::SPI_gettypeid(tupdesc, column) } != pg_sys::UUIDOID {
        return Err(missing_column(&table()));
    }
    if !unsafe { pg_sys::heap_attisnull(tuple, column, tupdesc) } {
        return Ok(row);
    }
    let tenant = context::current_tenant()?.ok_or_else(|| no_tenant_in_context(&table()))?;
    let mut value = tenant.into_datum().expect("a uuid datum is never NULL");
    let (mut columns, mut is_null) = (column, false);
    // SAFETY: one replacement column, value and null flag, described by `tupdesc`.
    unsafe {
        let filled = pg_sys::heap_modify_tuple_by_cols(
            tuple,
            tupdesc,
            1,
            &mut columns,
            &mut value,
            &mut is_null,
        );
        Ok(PgHeapTuple::from_heap_tuple(
            PgTupleDesc::from_pg_unchecked(tupdesc),
            filled,
        ))
    }
}

// Statement trigger on `tenant.tenants`, `tenant.members`, `tenant.plans`
// and the row-limit tables: a change may alter a tenant's status, a member's
// role or a limit, so every session must forget what it cached (see
// `context::invalidate_everywhere`).
trigger_function!(
    _tenant_registry_changed,
    pg_finfo__tenant_registry_changed,
    registry_changed
);

fn registry_changed<'a>(
    _trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ErrorReport> {
    context::invalidate_everywhere();
    Ok(None)
}

fn no_tenant_in_context(table: &str) -> ErrorReport {
    error::insufficient_privilege(
        format!("cannot insert into {table}: no tenant in context (app.current_tenant is not set)"),
        "Set the tenant for the transaction first: SELECT set_config('app.current_tenant', '<tenant uuid>', true);",
    )
}

fn missing_column(table: &str) -> ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        format!(
            "trigger {}: table {table} has no uuid column {TENANT_COLUMN}",
            "tenant_set_id"
        ),
        "Attach this trigger through tenant_enable(), which checks the column.",
    )
}

fn misuse(table: &str) -> ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
        format!("trigger tenant_set_id on {table} must fire BEFORE INSERT FOR EACH ROW"),
        "Recreate it with tenant_enable(), which attaches it correctly.",
    )
}
