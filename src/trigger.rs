//! pg_tenant's trigger functions:
//! - `tenant_set_id`, the BEFORE INSERT trigger that tenant_enable attaches to
//!   every tenant-scoped table, so applications insert without naming
//!   tenant_id and the row lands in the tenant of the session;
//! - `_tenant_registry_changed`, the statement trigger on `tenant.tenants`
//!   that keeps the session's tenant-status cache honest.

use crate::context;
use crate::error;
use crate::table_state::TENANT_COLUMN;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;
use std::convert::Infallible;

/// Fills `tenant_id` from `app.current_tenant` when the row leaves it NULL.
/// A row that names its tenant keeps it: the policy's WITH CHECK then decides
/// (only a bypassing session may write into another tenant). A row with no
/// tenant and no tenant in context is refused with a message that says how to
/// set one.
#[pg_trigger]
fn tenant_set_id<'a>(
    trigger: &'a PgTrigger<'a>,
) -> std::result::Result<Option<PgHeapTuple<'a, AllocatedByRust>>, Infallible> {
    fill_tenant_id(trigger)
        .map(Some)
        .map_err(|e| error::raise(e))
}

fn fill_tenant_id<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<PgHeapTuple<'a, AllocatedByRust>, ErrorReport> {
    let table = || {
        format!(
            "{}.{}",
            trigger.table_schema().unwrap_or_default(),
            trigger.table_name().unwrap_or_default()
        )
    };
    let row = trigger.new().ok_or_else(|| misuse(&table()))?;
    let given = row
        .get_by_name::<Uuid>(TENANT_COLUMN)
        .map_err(|_| missing_column(&table()))?;
    let mut row = row.into_owned();
    if given.is_none() {
        let tenant = context::current_tenant()?.ok_or_else(|| no_tenant_in_context(&table()))?;
        row.set_by_name(TENANT_COLUMN, tenant)
            .map_err(|_| missing_column(&table()))?;
    }
    Ok(row)
}

/// Statement trigger on `tenant.tenants` and `tenant.members`: a change may
/// alter a tenant's status or a member's role, so every session must forget
/// what it cached (see `context::invalidate_everywhere`).
#[pg_trigger]
fn _tenant_registry_changed<'a>(
    _trigger: &'a PgTrigger<'a>,
) -> std::result::Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, Infallible> {
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
