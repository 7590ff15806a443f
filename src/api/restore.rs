//! What keeps a restored dump whole: the registry tables refuse a row whose
//! tenant, plan or table is not (yet) in the registry with a message that
//! says how to restore in order, and their triggers cannot be disabled.
//!
//! PostgreSQL's own foreign keys between the registry tables would refuse
//! the same rows, with a message that does not say what to do. The case that
//! needs saying is a dump restored out of order: `pg_dump` orders the data of
//! an extension's tables by their foreign keys, but it records that order
//! only in the archive's sequence, not as dependencies, so `pg_restore
//! --jobs` loads them in any order (PostgreSQL 14 to 18 alike), and a
//! `--data-only` restore loads tenant-scoped tables, whose triggers then
//! count rows for tenants not restored yet, before the registry.

use crate::error;
use crate::names::TENANTS_TABLE;
use crate::store::lookup;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgList;
use std::ffi::{CStr, CString};

/// The registry tables another registry table may name in a column, by the
/// name its trigger argument gives them.
fn parent_table(name: &str) -> Option<&'static CStr> {
    match name {
        "tenants" => Some(TENANTS_TABLE),
        "plans" => Some(c"plans"),
        "tables" => Some(c"tables"),
        _ => None,
    }
}

/// What a parent table's rows are called in the message.
fn parent_noun(name: &str) -> &'static str {
    match name {
        "tenants" => "tenant",
        "plans" => "plan",
        _ => "table",
    }
}

// BEFORE INSERT trigger on the registry tables that name a tenant, a plan or
// a tenant-scoped table (sql/finalize.sql). Each argument is
// `column=parent`: the value of `column`, when not NULL, must be a key of
// `tenant.<parent>`.
crate::trigger_function!(
    _tenant_registry_references,
    pg_finfo__tenant_registry_references,
    check_references
);

fn check_references<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ErrorReport> {
    let table = trigger.table_name().unwrap_or_default();
    let fires_right = matches!(trigger.level(), PgTriggerLevel::Row)
        && matches!(trigger.when(), Ok(PgTriggerWhen::Before))
        && matches!(trigger.op(), Ok(PgTriggerOperation::Insert));
    if !fires_right {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
            format!("trigger _tenant_registry_references on tenant.{table} must fire BEFORE INSERT FOR EACH ROW"),
            "pg_tenant creates it so (sql/finalize.sql); recreate the extension's trigger as it was.",
        ));
    }
    let args = trigger
        .extra_args()
        .map_err(|e| error::bug(format!("tenant.{table}: trigger arguments: {e}")))?;
    let data = trigger.trigger_data();
    // SAFETY: a row trigger's relation and tuple are valid for the whole call.
    let (tupdesc, tuple) = unsafe { ((*data.tg_relation).rd_att, data.tg_trigtuple) };
    for arg in &args {
        let bad_argument = || {
            error::bug(format!(
                "tenant.{table}: trigger argument {arg:?} is not column=parent"
            ))
        };
        let (column, parent_name) = arg.split_once('=').ok_or_else(bad_argument)?;
        let parent = parent_table(parent_name).ok_or_else(bad_argument)?;
        let column_c = CString::new(column).map_err(|_| error::bug("NUL in a column name"))?;
        // SAFETY: `tupdesc` describes `tuple`; the value stays valid while
        // the tuple does, i.e. for this call.
        let (at, value, is_null) = unsafe {
            let at = pg_sys::SPI_fnumber(tupdesc, column_c.as_ptr());
            if at <= 0 {
                return Err(error::bug(format!("tenant.{table} has no column {column}")));
            }
            let mut is_null = false;
            let value = pg_sys::SPI_getbinval(tuple, tupdesc, at, &mut is_null);
            (at, value, is_null)
        };
        if is_null {
            continue;
        }
        if lookup::by_primary_key(parent, &[value], |_| Ok(()))?.is_none() {
            // SAFETY: as above; SPI_getvalue returns a palloc'd C string.
            let shown = unsafe {
                CStr::from_ptr(pg_sys::SPI_getvalue(tuple, tupdesc, at))
                    .to_string_lossy()
                    .into_owned()
            };
            return Err(missing_parent(&table, parent_name, &shown));
        }
    }
    Ok(trigger.new())
}

fn missing_parent(table: &str, parent: &str, value: &str) -> ErrorReport {
    let noun = parent_noun(parent);
    error::report(
        PgSqlErrorCode::ERRCODE_FOREIGN_KEY_VIOLATION,
        format!(
            "tenant.{table} names {noun} {} that tenant.{parent} does not have",
            error::shorten(value)
        ),
        format!(
            "Restoring a dump? pg_restore --jobs and --data-only restores load pg_tenant's registry out of order: \
             restore the tenant schema's data first, without --jobs (README, \"Backups\"). \
             Otherwise create the {noun} first."
        ),
    )
}

/// The ALTER TABLE subcommands that stop a trigger from firing in ordinary
/// sessions (a REPLICA trigger fires only under session_replication_role =
/// replica).
fn stops_triggers(subtype: pg_sys::AlterTableType::Type) -> bool {
    use pg_sys::AlterTableType::*;
    [
        AT_DisableTrig,
        AT_DisableTrigAll,
        AT_DisableTrigUser,
        AT_EnableReplicaTrig,
    ]
    .contains(&subtype)
}

/// `_tenant_registry_guard()`: the `ddl_command_start` event trigger on
/// ALTER TABLE (sql/finalize.sql) that refuses to disable a trigger of a
/// registry table, before anything changed. `pg_restore --disable-triggers`
/// issues exactly that before each table's data; the registry's data then
/// loads with its triggers (they merge the default plans and check
/// references), the other tables' without.
#[pg_guard]
#[no_mangle]
#[doc(hidden)]
pub unsafe extern "C-unwind" fn _tenant_registry_guard(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: Postgres passes a valid fcinfo; its context is checked to be
    // an event trigger's before it is read as one.
    let refused = unsafe { refused_table(fcinfo) };
    match refused {
        Ok(None) => pg_sys::Datum::from(0),
        Ok(Some(table)) => error::raise(error::insufficient_privilege(
            format!("the triggers of pg_tenant's registry table {table} cannot be disabled"),
            "They keep the registry consistent, also while a dump is restored. Restoring with \
             pg_restore --disable-triggers? Leave that option out and restore whole databases, \
             or by --section (README, \"Backups\").",
        )),
        Err(e) => error::raise(e),
    }
}

#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo__tenant_registry_guard() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// The registry table an ALTER TABLE would stop a trigger of, if any.
///
/// # Safety
/// `fcinfo` is the call's info as Postgres passed it.
unsafe fn refused_table(fcinfo: pg_sys::FunctionCallInfo) -> error::Result<Option<String>> {
    unsafe {
        let context = fcinfo.as_ref().map_or(std::ptr::null_mut(), |f| f.context);
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_EventTriggerData {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                "_tenant_registry_guard() is an event trigger function and can only be called as one",
                "pg_tenant's event trigger tenant_registry_guard calls it; do not call it directly.",
            ));
        }
        let parsetree = (*(context as *mut pg_sys::EventTriggerData)).parsetree;
        if parsetree.is_null() || (*parsetree).type_ != pg_sys::NodeTag::T_AlterTableStmt {
            return Ok(None);
        }
        let stmt = parsetree as *mut pg_sys::AlterTableStmt;
        let commands = PgList::<pg_sys::AlterTableCmd>::from_pg((*stmt).cmds);
        if !commands
            .iter_ptr()
            .any(|cmd| stops_triggers((*cmd).subtype))
        {
            return Ok(None);
        }
        let relid = pg_sys::RangeVarGetRelidExtended(
            (*stmt).relation,
            pg_sys::NoLock as pg_sys::LOCKMODE,
            pg_sys::RVROption::RVR_MISSING_OK,
            None,
            std::ptr::null_mut(),
        );
        if relid == pg_sys::InvalidOid || !lookup::is_registry_table(relid) {
            return Ok(None);
        }
        let name = pg_sys::get_rel_name(relid);
        if name.is_null() {
            // Dropped meanwhile (resolved without a lock): ALTER TABLE will say so.
            return Ok(None);
        }
        Ok(Some(format!(
            "tenant.{}",
            CStr::from_ptr(name).to_string_lossy()
        )))
    }
}
