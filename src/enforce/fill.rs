//! `tenant_set_id`, the BEFORE INSERT trigger that tenant_enable attaches to
//! every tenant-scoped table, so applications insert without naming
//! tenant_id and the row lands in the tenant of the transaction.

use super::current;
use crate::error;
use crate::names::{FILL_TRIGGER, TENANT_COLUMN, TENANT_COLUMN_C};
use crate::registry::{roles, tenants};
use crate::store::spi;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{PgTupleDesc, Uuid};

// Fills `tenant_id` from `app.current_tenant` when the row leaves it NULL.
// A row that names its tenant keeps it; a row that names another tenant
// than the one in context is refused (PT021) unless the session bypasses or
// row-level security does not hold its role back. A row with no
// tenant and no tenant in context is refused with a message that says how to
// set one.
crate::trigger_function!(tenant_set_id, pg_finfo_tenant_set_id, fill_row);

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
        // SAFETY: the column is a non-NULL uuid of `tuple` (checked above).
        let named = unsafe {
            let mut is_null = false;
            let datum = pg_sys::SPI_getbinval(tuple, tupdesc, column, &mut is_null);
            Uuid::from_datum(datum, is_null)
        };
        let current = current::tenant()?;
        if let (Some(named), false) = (named, named == current) {
            // SAFETY: plain catalog checks of the current role.
            let unfiltered = unsafe {
                pg_sys::superuser() || pg_sys::has_bypassrls_privilege(pg_sys::GetUserId())
            };
            if unfiltered {
                refuse_unknown_named_tenant(named, current, &table)?;
            } else {
                refuse_other_tenant(data.tg_relation, current, &table)?;
            }
        }
        return Ok(row);
    }
    let tenant = current::tenant()?.ok_or_else(|| no_tenant_in_context(&table()))?;
    let mut value = tenant.into_datum().expect("a uuid datum is never NULL");
    let (mut columns, mut is_null) = (column, false);
    // SAFETY: one replacement column, value and null flag, described by `tupdesc`.
    // The arrays are `*mut` up to PostgreSQL 16 and `*const` from 17 on.
    #[allow(clippy::unnecessary_mut_passed)]
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

/// A row that names its tenant while no tenant is in context, written by a
/// role that row-level security never holds back (a superuser, a BYPASSRLS
/// role: a restore, a bulk load), must name a tenant of the registry. The
/// foreign key would refuse it too, but without saying that a dump is being
/// restored out of order. Any other role is left to `refuse_other_tenant`, whatever the
/// relation: telling it a tenant does not exist would tell it which others
/// do (the row's relation may be a partition without policies of its own,
/// reached through its parent, so the role decides, not the relation).
fn refuse_unknown_named_tenant(
    tenant: Uuid,
    current: Option<Uuid>,
    table: &dyn Fn() -> String,
) -> Result<(), ErrorReport> {
    if current.is_some() || tenants::record(tenant)?.is_some() {
        return Ok(());
    }
    Err(error::report(
        PgSqlErrorCode::ERRCODE_FOREIGN_KEY_VIOLATION,
        format!(
            "row of {} names tenant {tenant}, which tenant.tenants does not have",
            table()
        ),
        "Restoring a dump? A --data-only restore loads tenant-scoped tables before pg_tenant's registry: \
         restore whole databases, or by --section (README, \"Backups\"). Otherwise create the tenant first.",
    ))
}

/// A row that names another tenant than the one in context, written by a
/// role that row-level security holds back and that is not bypassing, is
/// refused here with its own SQLSTATE (PT021), before the policy's WITH
/// CHECK would refuse it with Postgres' generic 42501. The message is the
/// same whatever tenant the row names (it must not tell which exist).
fn refuse_other_tenant(
    relation: pg_sys::Relation,
    current: Option<Uuid>,
    table: &dyn Fn() -> String,
) -> Result<(), ErrorReport> {
    if (roles::has_bypass_role() && current::bypass_requested()?)
        || !row_security_holds_back(relation)?
    {
        return Ok(());
    }
    Err(match current {
        None => no_tenant_in_context(&table()),
        Some(_) => error::refusal(
            error::Refusal::OtherTenant,
            format!(
                "cannot insert into {}: the row names another tenant than the one in context",
                table()
            ),
            "Leave tenant_id out (tenant_set_id fills it from app.current_tenant), or name the tenant of the transaction.",
        ),
    })
}

/// Whether row-level security holds the current role back on the relation
/// (check_enable_rls: superuser, BYPASSRLS, owner without FORCE) or, for a
/// partition, on one of its ancestors. Stricter than Postgres, which applies
/// only the policies of the table an INSERT names: a row written into a
/// partition directly (which has no policies of its own) is held to its
/// tenant-scoped parent's rule too. The trigger acts for the policy, whatever
/// other permissive policies a table has (tenant_check reports those as
/// widening_policy), and as the invoking role, also through a view (a view
/// that writes with its owner's rights is reported as view_owner_rights).
fn row_security_holds_back(relation: pg_sys::Relation) -> Result<bool, ErrorReport> {
    // SAFETY: the trigger's relation is open.
    let (relid, is_partition) =
        unsafe { ((*relation).rd_id, (*(*relation).rd_rel).relispartition) };
    let enabled = unsafe {
        pg_sys::check_enable_rls(relid, pg_sys::InvalidOid, true)
            == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
    };
    if enabled || !is_partition {
        return Ok(enabled);
    }
    Ok(spi::one::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_partition_ancestors($1) a
                         WHERE a.relid OPERATOR(pg_catalog.<>) $1
                           AND pg_catalog.row_security_active(a.relid))",
        &[relid.into()],
    )?
    .unwrap_or(false))
}

fn no_tenant_in_context(table: &str) -> ErrorReport {
    error::refusal(
        error::Refusal::NoTenant,
        format!("cannot insert into {table}: no tenant in context (app.current_tenant is not set)"),
        "Set the tenant for the transaction first: SELECT set_config('app.current_tenant', '<tenant uuid>', true);",
    )
}

fn missing_column(table: &str) -> ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        format!(
            "trigger {}: table {table} has no uuid column {TENANT_COLUMN}",
            FILL_TRIGGER
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
