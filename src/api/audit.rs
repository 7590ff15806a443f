//! Audit: `tenant_audit_enable(tbl)` attaches three statement triggers
//! (`tenant_audit_insert`, `_update`, `_delete`, with transition tables) that
//! record every row written, in the writing transaction, into the
//! tenant-scoped log `tenant.audit_log`: tenant, acting user
//! (`app.current_user_id`), role, whether the bypass was on, operation,
//! table, primary key, and the values (an insert's new row, a delete's old
//! row, an update's changed columns, old and new).
//!
//! The log's INSERT runs as the writing role, so that nothing of the table
//! (its types' output functions, which `to_jsonb` calls) runs with more
//! rights than the write itself had; the role may insert into the log only
//! while this trigger writes it (policy `tenant_audit_write`, which asks
//! `_tenant_audit_writing()`). Nobody updates or deletes entries: no role
//! is granted either; operators expire old entries with
//! `tenant_audit_expire`. A tenant reads its own entries only.

use super::tables::release;
use crate::error::{self, Result};
use crate::names::USER_SETTING;
use crate::registry::roles;
use crate::session::ddl;
use crate::store::{identity, spi};
use crate::tables::state::TableState;
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::spi::{quote_identifier, quote_literal};
use pgrx::PgRelation;
use pgrx::{PgBuiltInOids, PgOid};
use rustc_hash::FxHashMap as HashMap;
use std::cell::{Cell, RefCell};

/// The audit triggers: name, event, transition tables.
pub const AUDIT_TRIGGERS: [(&str, &str, &str); 3] = [
    (
        "tenant_audit_insert",
        "INSERT",
        "REFERENCING NEW TABLE AS tenant_audit_new",
    ),
    (
        "tenant_audit_update",
        "UPDATE",
        "REFERENCING OLD TABLE AS tenant_audit_old NEW TABLE AS tenant_audit_new",
    ),
    (
        "tenant_audit_delete",
        "DELETE",
        "REFERENCING OLD TABLE AS tenant_audit_old",
    ),
];

thread_local! {
    /// True while the audit trigger inserts into tenant.audit_log.
    static WRITING: Cell<bool> = const { Cell::new(false) };
    /// The audit trigger's plans, by statement text.
    static PLANS: RefCell<HashMap<String, OwnedPreparedStatement>> = RefCell::new(HashMap::default());
}

/// `_tenant_audit_writing()`: whether the audit trigger is writing the log
/// now. The log's INSERT policy: outside the trigger nobody may insert.
#[pg_extern(volatile, parallel_unsafe)]
fn _tenant_audit_writing() -> bool {
    WRITING.with(Cell::get)
}

/// `tenant_audit_enable(tbl)`: records every insert, update and delete of a
/// tenant-scoped table with a primary key in tenant.audit_log. For the
/// table's owner or an operator; running it twice changes nothing.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_audit_enable(tbl: Option<PgRelation>) -> Result<String> {
    let oid = release(tbl, "tenant_audit_enable")?;
    let table = TableState::read(oid)?;
    let name = &table.qualified_name;
    if !table.registered {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("tenant_audit_enable: {name} is not tenant-scoped"),
            format!(
                "The audit log is per tenant: run SELECT tenant_enable({}) first.",
                quote_literal(name)
            ),
        ));
    }
    if table.kind != "r" {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("tenant_audit_enable: {name} is a partitioned table or a partition"),
            "Writes addressed to a partition fire its own triggers, not its parent's: auditing partitioned tables is not supported yet.",
        ));
    }
    if is_inheritance_relative(oid)? {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("tenant_audit_enable: {name} has inheritance parents or children"),
            "Postgres keeps no transition tables for them: auditing them is not supported.",
        ));
    }
    let key = primary_key(oid)?;
    if key.is_empty() {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_INVALID_OBJECT_DEFINITION,
            format!("tenant_audit_enable: {name} has no primary key"),
            format!("The audit log names each row by its primary key: ALTER TABLE {name} ADD PRIMARY KEY (...) first."),
        ));
    }
    let present = existing_triggers(oid)?;
    let schema = spi::extension_schema()?;
    let arguments: Vec<String> = key.iter().map(quote_literal).collect();
    let mut statements = Vec::new();
    for (trigger, event, referencing) in AUDIT_TRIGGERS {
        if present.iter().any(|t| t == trigger) {
            continue;
        }
        statements.push(format!(
            "CREATE TRIGGER {trigger} AFTER {event} ON {name} {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {schema}._tenant_audit({})",
            arguments.join(", ")
        ));
        statements.push(format!(
            "COMMENT ON TRIGGER {trigger} ON {name} IS {}",
            quote_literal(format!(
                "pg_tenant: records every {event} into tenant.audit_log (tenant_audit_disable removes it)"
            ))
        ));
    }
    if statements.is_empty() {
        return Ok(format!(
            "-- pg_tenant: {name} is already audited; nothing to do"
        ));
    }
    run(&statements)?;
    Ok(statements
        .iter()
        .map(|s| format!("{s};"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// `tenant_audit_disable(tbl)`: removes the audit triggers (the log keeps
/// its entries). For the table's owner or an operator.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_audit_disable(tbl: Option<PgRelation>) -> Result<String> {
    let oid = release(tbl, "tenant_audit_disable")?;
    let name = TableState::read(oid)?.qualified_name;
    let present = existing_triggers(oid)?;
    let statements: Vec<String> = AUDIT_TRIGGERS
        .iter()
        .filter(|(trigger, _, _)| present.iter().any(|t| t == trigger))
        .map(|(trigger, _, _)| format!("DROP TRIGGER {trigger} ON {name}"))
        .collect();
    if statements.is_empty() {
        return Ok(format!(
            "-- pg_tenant: {name} is not audited; nothing to do"
        ));
    }
    run(&statements)?;
    Ok(statements
        .iter()
        .map(|s| format!("{s};"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// `tenant_audit_expire(older_than)`: removes the log's entries older than
/// `older_than`; returns how many. Operators only.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_audit_expire(older_than: Option<Interval>) -> Result<i64> {
    let older_than =
        older_than.ok_or_else(|| error::null_argument("tenant_audit_expire", "older_than"))?;
    if !roles::is_operator() {
        return Err(error::insufficient_privilege(
            "tenant_audit_expire: only operators may expire audit entries",
            "Operators are members of tenant_admin.",
        ));
    }
    let negative =
        spi::one::<bool>("SELECT $1 < interval '0'", &[older_than.into()])?.unwrap_or(false);
    if negative {
        return Err(error::invalid_parameter(
            "tenant_audit_expire: older_than must not be negative",
            "Pass the age of the entries to remove, e.g. interval '1 year'.",
        ));
    }
    identity::as_registry_owner(|| {
        spi::execute_one::<i64>(
            "WITH gone AS (DELETE FROM tenant.audit_log WHERE logged_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1) RETURNING 1)
             SELECT pg_catalog.count(*) FROM gone",
            &[older_than.into()],
        )
    })
    .map(|n| n.unwrap_or(0))
}

// The audit triggers' function: AFTER ... FOR EACH STATEMENT with transition
// tables; its arguments are the table's primary key columns.
crate::trigger_function!(_tenant_audit, pg_finfo__tenant_audit, audit_statement);

fn audit_statement<'a>(
    trigger: &'a PgTrigger<'a>,
) -> std::result::Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ErrorReport> {
    let data = trigger.trigger_data();
    // SAFETY: a trigger's relation is open for the whole call.
    let relid = unsafe { (*data.tg_relation).rd_id };
    let event = data.tg_event & pg_sys::TRIGGER_EVENT_OPMASK;
    let statement_level = data.tg_event & pg_sys::TRIGGER_EVENT_ROW == 0;
    let key: Vec<String> = trigger.extra_args().unwrap_or_default();
    if !statement_level || key.is_empty() {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
            format!(
                "_tenant_audit on {} must be an AFTER ... FOR EACH STATEMENT trigger with the primary key's columns as arguments",
                identity::relation_label(relid)
            ),
            "Attach it with tenant_audit_enable(table).",
        ));
    }
    let table = qualified(relid);
    let key_of = |alias: &str| {
        let pairs: Vec<String> = key
            .iter()
            .map(|c| format!("{}, {alias}.{}", quote_literal(c), quote_identifier(c)))
            .collect();
        format!("pg_catalog.jsonb_build_object({})", pairs.join(", "))
    };
    const COLUMNS: &str = "INSERT INTO tenant.audit_log (tenant_id, relation, operation, key, old_values, new_values, user_id, bypass)";
    let sql = match event {
        pg_sys::TRIGGER_EVENT_INSERT => format!(
            "{COLUMNS} SELECT n.tenant_id, $1, 'INSERT', {}, NULL, pg_catalog.to_jsonb(n), $2, $3 FROM tenant_audit_new n",
            key_of("n")
        ),
        pg_sys::TRIGGER_EVENT_DELETE => format!(
            "{COLUMNS} SELECT o.tenant_id, $1, 'DELETE', {}, pg_catalog.to_jsonb(o), NULL, $2, $3 FROM tenant_audit_old o",
            key_of("o")
        ),
        // Rows paired by key (subqueries, not CTEs: nothing materialized
        // twice); an update that changed a key is the rare second statement.
        pg_sys::TRIGGER_EVENT_UPDATE => format!(
            "{COLUMNS}
             SELECT n.tenant_id, $1, 'UPDATE', n.k, d.old, d.new, $2, $3
               FROM (SELECT {kn} AS k, n.tenant_id, pg_catalog.to_jsonb(n) AS v FROM tenant_audit_new n) n
               JOIN (SELECT {ko} AS k, pg_catalog.to_jsonb(o) AS v FROM tenant_audit_old o) o
                 ON o.k OPERATOR(pg_catalog.=) n.k
              CROSS JOIN LATERAL (
                    SELECT coalesce(pg_catalog.jsonb_object_agg(e.key, o.v OPERATOR(pg_catalog.->) e.key), '{{}}') AS old,
                           coalesce(pg_catalog.jsonb_object_agg(e.key, e.value), '{{}}') AS new
                      FROM pg_catalog.jsonb_each(n.v) e
                     WHERE (o.v OPERATOR(pg_catalog.->) e.key) IS DISTINCT FROM e.value) d",
            ko = key_of("o"),
            kn = key_of("n")
        ),
        _ => return Ok(None),
    };
    // An update that changed keys: the old key's whole row, then the new
    // key's, for the rows the first statement could not pair.
    let rekeyed = format!(
        "WITH o AS (SELECT {ko} AS k, o.tenant_id, pg_catalog.to_jsonb(o) AS v FROM tenant_audit_old o),
              n AS (SELECT {kn} AS k, n.tenant_id, pg_catalog.to_jsonb(n) AS v FROM tenant_audit_new n)
         {COLUMNS}
         SELECT o.tenant_id, $1, 'UPDATE', o.k, o.v, NULL, $2, $3
           FROM o WHERE NOT EXISTS (SELECT FROM n WHERE n.k OPERATOR(pg_catalog.=) o.k)
         UNION ALL
         SELECT n.tenant_id, $1, 'UPDATE', n.k, NULL, n.v, $2, $3
           FROM n WHERE NOT EXISTS (SELECT FROM o WHERE o.k OPERATOR(pg_catalog.=) n.k)",
        ko = key_of("o"),
        kn = key_of("n")
    );
    // SAFETY: the new transition table, when there is one, is this
    // statement's.
    let written = unsafe {
        if data.tg_newtable.is_null() {
            0
        } else {
            pg_sys::tuplestore_tuple_count(data.tg_newtable)
        }
    };
    let user = setting(USER_SETTING);
    // The bypass was in force: asked for, by a member of tenant_bypass.
    let bypass =
        roles::has_bypass_role() && crate::enforce::current::bypass_requested().unwrap_or(false);
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            WRITING.with(|w| w.set(false));
        }
    }
    WRITING.with(|w| w.set(true));
    let _done = Done;
    // search_path pinned: `IS DISTINCT FROM` and the casts resolve in
    // pg_catalog whatever the writer set (an operator of its own could
    // otherwise hide a change from the log).
    identity::with_pinned_search_path(|| {
        Spi::connect_mut(|client| {
            // SAFETY: the trigger data of this call; makes its transition
            // tables visible to this SPI connection by their names.
            unsafe {
                pg_sys::SPI_register_trigger_data(data as *const _ as *mut pg_sys::TriggerData);
            }
            let args = [table.into(), user.into(), bypass.into()];
            let paired = run_saved(client, sql, &args)?;
            if event == pg_sys::TRIGGER_EVENT_UPDATE && (paired as i64) < written {
                run_saved(client, rekeyed, &args)?;
            }
            Ok::<_, pgrx::spi::Error>(())
        })
        .map_err(error::internal)
    })?;
    Ok(None)
}

/// Runs one of the audit trigger's statements from a plan kept for the
/// session, by statement text (table, key and operation): planning the
/// update's query costs more than running it for one row. The plan is taken
/// out while it runs, so that a nested audited write prepares its own.
/// Returns how many entries it wrote.
fn run_saved(
    client: &mut pgrx::spi::SpiClient<'_>,
    sql: String,
    args: &[pgrx::datum::DatumWithOid],
) -> std::result::Result<usize, pgrx::spi::Error> {
    let plan = match PLANS.with(|plans| plans.borrow_mut().remove(&sql)) {
        Some(plan) => plan,
        None => client
            .prepare_mut(
                sql.as_str(),
                &[
                    PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                    PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                    PgOid::BuiltIn(PgBuiltInOids::BOOLOID),
                ],
            )?
            .keep(),
    };
    let result = client.update(&plan, None, args).map(|table| table.len());
    PLANS.with(|plans| plans.borrow_mut().insert(sql, plan));
    result
}

/// Runs the audit triggers' DDL as the registry owner: the caller (the
/// table's owner or an operator, checked by `release`) may not execute
/// `_tenant_audit` itself, which would let any table owner attach it to a
/// table of its own; the DDL runs no user code.
fn run(statements: &[String]) -> Result<()> {
    identity::as_registry_owner(|| {
        for statement in statements {
            ddl::own(|| spi::execute(statement, &[]))?;
        }
        Ok(())
    })
}

/// A setting's value, None when unset or empty.
fn setting(name: &std::ffi::CStr) -> Option<String> {
    // SAFETY: GetConfigOption with missing_ok returns NULL or a string the
    // GUC machinery owns, copied at once.
    unsafe {
        let value = pg_sys::GetConfigOption(name.as_ptr(), true, false);
        if value.is_null() {
            return None;
        }
        let value = std::ffi::CStr::from_ptr(value)
            .to_string_lossy()
            .into_owned();
        (!value.is_empty()).then_some(value)
    }
}

/// `schema.table`, quoted as needed.
fn qualified(relid: pg_sys::Oid) -> String {
    // SAFETY: the relation is open (the trigger's); both names are palloc'd.
    unsafe {
        let name = pg_sys::get_rel_name(relid);
        let schema = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid));
        if name.is_null() || schema.is_null() {
            return relid.to_u32().to_string();
        }
        format!(
            "{}.{}",
            quote_identifier(std::ffi::CStr::from_ptr(schema).to_string_lossy()),
            quote_identifier(std::ffi::CStr::from_ptr(name).to_string_lossy())
        )
    }
}

fn primary_key(relid: pg_sys::Oid) -> Result<Vec<String>> {
    spi::column::<String>(
        "SELECT a.attname::text
           FROM pg_catalog.pg_index i
          CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k (attnum, n)
           JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = $1 AND i.indisprimary
          ORDER BY k.n",
        &[relid.into()],
    )
}

fn is_inheritance_relative(relid: pg_sys::Oid) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE inhrelid = $1 OR inhparent = $1)",
        &[relid.into()],
    )?
    .unwrap_or(false))
}

fn existing_triggers(relid: pg_sys::Oid) -> Result<Vec<String>> {
    spi::column::<String>(
        "SELECT tgname::text FROM pg_catalog.pg_trigger WHERE tgrelid = $1 AND tgname::text LIKE 'tenant\\_audit\\_%'",
        &[relid.into()],
    )
}
