//! Audit: `tenant_audit_enable(tbl)` attaches three statement triggers
//! (`tenant_audit_insert`, `_update`, `_delete`, with transition tables) that
//! record every row written, in the writing transaction, into the
//! tenant-scoped log `tenant.audit_log`: tenant, acting user
//! (`app.current_user_id`), role, whether the bypass was on, operation,
//! table, primary key, and the values (an insert's new row, a delete's old
//! row, an update's changed columns, old and new).
//!
//! Each audited statement records in two steps: as the writing role (with
//! `search_path` and the output settings pinned), the entries are computed
//! into arrays: the table's types' output functions and casts, which
//! `to_jsonb` calls, run with no more rights than the write itself had;
//! then, as the registry owner, the arrays are inserted into the log, where
//! no user code runs (built-in types, no trigger). No role may insert,
//! update or delete entries itself; operators expire old entries with
//! `tenant_audit_expire`. A tenant reads its own entries only. Audited
//! tables refuse TRUNCATE (`tenant_audit_truncate`), which removes rows
//! without a trace.

use super::tables::release;
use crate::error::{self, Result};
use crate::registry::roles;
use crate::session::ddl;
use crate::store::{identity, spi};
use crate::tables::catalog;
use crate::tables::plan::render;
use crate::tables::state::TableState;
use pgrx::datum::DatumWithOid;
use pgrx::datum::Interval;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::spi::{quote_identifier, quote_literal};
use pgrx::PgRelation;
use pgrx::{PgBuiltInOids, PgOid, PgTupleDesc};
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

/// The trigger that refuses TRUNCATE of an audited table (it would remove
/// rows without a trace).
pub const TRUNCATE_TRIGGER: &str = "tenant_audit_truncate";

/// A kept plan of step 1: the key and row layout it was prepared for.
type KeptPlan = (Vec<String>, String, OwnedPreparedStatement);

thread_local! {
    /// Step 1's plans, per table and step.
    static PLANS: RefCell<HashMap<(pg_sys::Oid, Step), KeptPlan>> = RefCell::new(HashMap::default());
    /// Step 2's plan.
    static LOG_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
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
    let key = catalog::primary_key(oid)?;
    if key.is_empty() {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_INVALID_OBJECT_DEFINITION,
            format!("tenant_audit_enable: {name} has no primary key"),
            format!("The audit log names each row by its primary key: ALTER TABLE {name} ADD PRIMARY KEY (...) first."),
        ));
    }
    // A DEFERRABLE key lets one statement hold two rows with the same key
    // for a moment (SET CONSTRAINTS ALL DEFERRED), and the audit pairs an
    // UPDATE's old and new rows by key: one of them would go unrecorded.
    let deferrable = spi::one::<bool>(
        "SELECT condeferrable FROM pg_catalog.pg_constraint WHERE conrelid = $1 AND contype = 'p'",
        &[oid.into()],
    )?
    .unwrap_or(false);
    if deferrable {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("tenant_audit_enable: the primary key of {name} is DEFERRABLE"),
            format!("The audit log pairs the rows an UPDATE changes by their primary key, which a deferred key lets repeat within a statement: recreate it NOT DEFERRABLE (ALTER TABLE {name} DROP CONSTRAINT ..., ADD PRIMARY KEY (...)) first."),
        ));
    }
    let schema = spi::extension_schema()?;
    let arguments: Vec<String> = key.iter().map(quote_literal).collect();
    // A trigger of ours stands only if it is exactly what this function
    // creates (function, event, timing, transition tables, key, enabled): one
    // of the same name that is not (a decoy, a stale key) is replaced.
    let ours = our_triggers(oid, &key)?;
    let present = existing_triggers(oid)?;
    let mut statements = Vec::new();
    let wanted = AUDIT_TRIGGERS
        .iter()
        .map(|(trigger, event, referencing)| {
            (
                *trigger,
                format!(
                    "CREATE TRIGGER {trigger} AFTER {event} ON {name} {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {schema}._tenant_audit({})",
                    arguments.join(", ")
                ),
                format!("records every {event} into tenant.audit_log (tenant_audit_disable removes it)"),
            )
        })
        .chain(std::iter::once((
            TRUNCATE_TRIGGER,
            format!(
                "CREATE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {name} FOR EACH STATEMENT EXECUTE FUNCTION {schema}._tenant_audit({})",
                arguments.join(", ")
            ),
            "refuses TRUNCATE of an audited table, which would remove rows without a trace".to_string(),
        )));
    for (trigger, create, what) in wanted {
        if ours.iter().any(|t| t == trigger) {
            continue;
        }
        if present.iter().any(|t| t == trigger) {
            statements.push(format!("DROP TRIGGER {trigger} ON {name}"));
        }
        statements.push(create);
        statements.push(format!(
            "COMMENT ON TRIGGER {trigger} ON {name} IS {}",
            quote_literal(format!("pg_tenant: {what}"))
        ));
    }
    run(&statements)?;
    Ok(render(
        &table,
        &statements,
        "is already audited; nothing to do",
    ))
}

/// `tenant_audit_disable(tbl)`: removes the audit triggers (the log keeps
/// its entries). For the table's owner or an operator.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_audit_disable(tbl: Option<PgRelation>) -> Result<String> {
    let oid = release(tbl, "tenant_audit_disable")?;
    let table = TableState::read(oid)?;
    let name = &table.qualified_name;
    let present = existing_triggers(oid)?;
    let statements: Vec<String> = AUDIT_TRIGGERS
        .iter()
        .map(|(trigger, _, _)| *trigger)
        .chain(std::iter::once(TRUNCATE_TRIGGER))
        .filter(|trigger| present.iter().any(|t| t == trigger))
        .map(|trigger| format!("DROP TRIGGER {trigger} ON {name}"))
        .collect();
    run(&statements)?;
    Ok(render(&table, &statements, "is not audited; nothing to do"))
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
    super::lifecycle::refuse_negative(
        older_than,
        "tenant_audit_expire: older_than must not be negative",
        "Pass the age of the entries to remove, e.g. interval '1 year'.",
    )?;
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
// tables (and BEFORE TRUNCATE, which it refuses); its arguments are the
// table's primary key columns.
crate::trigger_function!(_tenant_audit, pg_finfo__tenant_audit, audit_statement);

/// The log's INSERT, run as the registry owner from the arrays the first
/// step computed: no user code runs in it (built-in types only, no trigger).
const LOG_ENTRIES_SQL: &str = "INSERT INTO tenant.audit_log
        (tenant_id, relation, operation, key, old_values, new_values, user_id, db_role, bypass)
    SELECT e.t, $1, $2, e.k, e.o, e.n, $3, $4::pg_catalog.name, $5
      FROM ROWS FROM (pg_catalog.unnest($6::pg_catalog.uuid[]), pg_catalog.unnest($7::pg_catalog.jsonb[]),
                      pg_catalog.unnest($8::pg_catalog.jsonb[]), pg_catalog.unnest($9::pg_catalog.jsonb[]))
           AS e (t, k, o, n)";

fn audit_statement<'a>(
    trigger: &'a PgTrigger<'a>,
) -> std::result::Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ErrorReport> {
    let data = trigger.trigger_data();
    // SAFETY: a trigger's relation is open for the whole call.
    let (relid, tupdesc) = unsafe { ((*data.tg_relation).rd_id, (*data.tg_relation).rd_att) };
    let event = data.tg_event & pg_sys::TRIGGER_EVENT_OPMASK;
    let statement_level = data.tg_event & pg_sys::TRIGGER_EVENT_ROW == 0;
    let key: Vec<String> = trigger.extra_args().unwrap_or_default();
    if event == pg_sys::TRIGGER_EVENT_TRUNCATE {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "cannot truncate {}: it is audited, and TRUNCATE removes rows without a trace",
                identity::relation_label(relid)
            ),
            "Delete the rows instead (each is recorded in tenant.audit_log), or run tenant_audit_disable first.",
        ));
    }
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
    let operation = match event {
        pg_sys::TRIGGER_EVENT_INSERT => "INSERT",
        pg_sys::TRIGGER_EVENT_UPDATE => "UPDATE",
        pg_sys::TRIGGER_EVENT_DELETE => "DELETE",
        _ => return Ok(None),
    };
    // Fail closed: a malformed or unproven user id refuses the write, as it
    // would everywhere else in pg_tenant.
    let user = crate::enforce::current::user()?.map(|u| u.to_string());
    // The bypass was in force: asked for, by a member of tenant_bypass.
    let bypass = roles::has_bypass_role() && crate::enforce::current::bypass_requested()?;
    // SAFETY: GetUserId reads the current role.
    let acting = ACTING_FOR
        .with(Cell::get)
        .unwrap_or_else(|| unsafe { pg_sys::GetUserId() });
    let db_role = catalog::role_name(acting).unwrap_or_default();
    let table = identity::relation_label(relid);
    let layout = layout_of(tupdesc);
    let purging = PURGING.with(Cell::get).map(pgrx::Uuid::from_bytes);
    // SAFETY: the new transition table, when there is one, is this
    // statement's.
    let written = unsafe {
        if data.tg_newtable.is_null() {
            0
        } else {
            pg_sys::tuplestore_tuple_count(data.tg_newtable)
        }
    };
    // Step 1, as the writing role with search_path and output settings
    // pinned: the entries as arrays (the table's types' output functions
    // and casts run here, with the writer's rights only). Step 2, as the
    // registry owner: the INSERT of those arrays.
    // Records the entries of one step; returns how many.
    let record = |client: &mut pgrx::spi::SpiClient<'_>, step: Step| -> Result<i64> {
        let Some(arrays) = run_saved(client, (relid, step), &key, &layout, &[purging.into()])
            .map_err(error::internal)?
        else {
            return Ok(0);
        };
        let args = [
            table.as_str().into(),
            operation.into(),
            user.as_deref().into(),
            db_role.as_str().into(),
            bypass.into(),
            // SAFETY: the arrays of step 1's row, valid until this SPI
            // connection ends.
            unsafe { DatumWithOid::new(arrays.tenants, pg_sys::UUIDARRAYOID) },
            unsafe { DatumWithOid::new(arrays.keys, pg_sys::JSONBARRAYOID) },
            unsafe { DatumWithOid::new(arrays.olds, pg_sys::JSONBARRAYOID) },
            unsafe { DatumWithOid::new(arrays.news, pg_sys::JSONBARRAYOID) },
        ];
        identity::as_registry_owner(|| log_entries(client, &args).map_err(error::internal))?;
        Ok(arrays.count)
    };
    identity::with_pinned_search_path(|| {
        Spi::connect_mut(|client| {
            // SAFETY: the trigger data of this call; makes its transition
            // tables visible to this SPI connection by their names.
            unsafe {
                pg_sys::SPI_register_trigger_data(data as *const _ as *mut pg_sys::TriggerData);
            }
            let first = match event {
                pg_sys::TRIGGER_EVENT_INSERT => Step::Inserted,
                pg_sys::TRIGGER_EVENT_DELETE => Step::Deleted,
                _ => Step::Paired,
            };
            let logged = record(client, first)?;
            // Rows the pairing missed: a key or the tenant changed.
            if first == Step::Paired && logged < written {
                record(client, Step::Rekeyed)?;
            }
            Ok(())
        })
    })?;
    Ok(None)
}

thread_local! {
    /// The tenant `tenant_purge` is erasing: its rows' deletes are recorded
    /// in the erasure record, not in the log it erases.
    static PURGING: Cell<Option<[u8; 16]>> = const { Cell::new(None) };
    /// The role pg_tenant writes for while it works as a table's owner
    /// (`tenant_import`): the audit entries name it, not the owner.
    static ACTING_FOR: Cell<Option<pg_sys::Oid>> = const { Cell::new(None) };
}

/// Runs `f` (writes made as a table's owner on `role`'s behalf) so that
/// the audit entries it causes name `role` as the writer.
pub fn while_acting_for<R>(role: pg_sys::Oid, f: impl FnOnce() -> Result<R>) -> Result<R> {
    struct Done(Option<pg_sys::Oid>);
    impl Drop for Done {
        fn drop(&mut self) {
            ACTING_FOR.with(|a| a.set(self.0));
        }
    }
    let _done = Done(ACTING_FOR.with(|a| a.replace(Some(role))));
    f()
}

/// Runs `f` (tenant_purge's deletes) with the audit of `tenant`'s rows off.
pub fn while_purging<R>(tenant: pgrx::Uuid, f: impl FnOnce() -> Result<R>) -> Result<R> {
    struct Done(Option<[u8; 16]>);
    impl Drop for Done {
        fn drop(&mut self) {
            PURGING.with(|p| p.set(self.0));
        }
    }
    let _done = Done(PURGING.with(|p| p.replace(Some(*tenant.as_bytes()))));
    f()
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    /// An insert's rows.
    Inserted,
    /// A delete's rows.
    Deleted,
    /// An update's rows, paired old and new by key and tenant.
    Paired,
    /// An update's rows that did not pair (a key or the tenant changed):
    /// the old row under its tenant, the new row under its own.
    Rekeyed,
}

/// Step 1's query: one row of four arrays (tenants, keys, old values, new
/// values), none when the statement wrote no row to record. $1 is the
/// tenant being purged (its rows are not recorded), or NULL.
fn entries_sql(step: Step, key: &[String]) -> String {
    let key_of = |alias: &str| {
        let pairs: Vec<String> = key
            .iter()
            .map(|c| format!("{}, {alias}.{}", quote_literal(c), quote_identifier(c)))
            .collect();
        format!("pg_catalog.jsonb_build_object({})", pairs.join(", "))
    };
    let aggregate = |rows: &str| {
        format!(
            "SELECT pg_catalog.array_agg(e.t), pg_catalog.array_agg(e.k), pg_catalog.array_agg(e.o), pg_catalog.array_agg(e.n),
                    pg_catalog.count(*)
               FROM ({rows}) e (t, k, o, n)
              WHERE e.t IS DISTINCT FROM $1
             HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0"
        )
    };
    let old_rows = format!(
        "SELECT {} AS k, o.tenant_id, pg_catalog.to_jsonb(o) AS v FROM tenant_audit_old o",
        key_of("o")
    );
    let new_rows = format!(
        "SELECT {} AS k, n.tenant_id, pg_catalog.to_jsonb(n) AS v FROM tenant_audit_new n",
        key_of("n")
    );
    // Rows pair when key and tenant are equal as text (jsonb equality would
    // take 1 and 1.0 for the same value).
    let pairs = "o.k::pg_catalog.text OPERATOR(pg_catalog.=) n.k::pg_catalog.text AND o.tenant_id OPERATOR(pg_catalog.=) n.tenant_id";
    match step {
        Step::Inserted => aggregate(&format!(
            "SELECT n.tenant_id, {}, NULL::pg_catalog.jsonb, pg_catalog.to_jsonb(n) FROM tenant_audit_new n",
            key_of("n")
        )),
        Step::Deleted => aggregate(&format!(
            "SELECT o.tenant_id, {}, pg_catalog.to_jsonb(o), NULL::pg_catalog.jsonb FROM tenant_audit_old o",
            key_of("o")
        )),
        Step::Paired => aggregate(&format!(
            "SELECT n.tenant_id, n.k, d.old, d.new
               FROM ({new_rows}) n JOIN ({old_rows}) o ON {pairs}
              CROSS JOIN LATERAL (
                    SELECT coalesce(pg_catalog.jsonb_object_agg(e.key, o.v OPERATOR(pg_catalog.->) e.key), '{{}}') AS old,
                           coalesce(pg_catalog.jsonb_object_agg(e.key, e.value), '{{}}') AS new
                      FROM pg_catalog.jsonb_each(n.v) e
                     WHERE (o.v OPERATOR(pg_catalog.->) e.key)::pg_catalog.text IS DISTINCT FROM e.value::pg_catalog.text) d"
        )),
        Step::Rekeyed => aggregate(&format!(
            "WITH o AS ({old_rows}), n AS ({new_rows})
             SELECT o.tenant_id, o.k, o.v, NULL::pg_catalog.jsonb
               FROM o WHERE NOT EXISTS (SELECT FROM n WHERE {pairs})
             UNION ALL
             SELECT n.tenant_id, n.k, NULL::pg_catalog.jsonb, n.v
               FROM n WHERE NOT EXISTS (SELECT FROM o WHERE {pairs})"
        )),
    }
}

/// Step 1's row: the four arrays' datums and how many entries they hold.
struct Arrays {
    tenants: pg_sys::Datum,
    keys: pg_sys::Datum,
    olds: pg_sys::Datum,
    news: pg_sys::Datum,
    count: i64,
}

/// A table's row layout (column names and types, in order): a kept plan
/// reads the transition tables by column position, so it is used only for
/// the layout it was planned for.
fn layout_of(tupdesc: pg_sys::TupleDesc) -> String {
    // SAFETY: the trigger's relation's descriptor, valid for the call.
    let desc = unsafe { PgTupleDesc::from_pg_unchecked(tupdesc) };
    desc.iter()
        .map(|att| {
            format!(
                "{}:{}:{}",
                att.name(),
                att.type_oid().value().to_u32(),
                att.is_dropped()
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs step 1 from a plan kept for the session per table and step, and
/// reads its row. The plan is kept with the key and row layout it was
/// prepared for, and its SQL is built and prepared again only when either
/// differs (a column added, dropped or renamed, another key); a renamed
/// table keeps its plan (its name is a parameter). It is taken out while it
/// runs, so that a nested audited write prepares its own.
fn run_saved(
    client: &mut pgrx::spi::SpiClient<'_>,
    cache_key: (pg_sys::Oid, Step),
    key: &[String],
    layout: &str,
    args: &[DatumWithOid],
) -> std::result::Result<Option<Arrays>, pgrx::spi::Error> {
    let kept = PLANS.with(|plans| plans.borrow_mut().remove(&cache_key));
    let (plan_key, plan_layout, plan) = match kept {
        Some((kept_key, kept_layout, plan)) if kept_key == key && kept_layout == layout => {
            (kept_key, kept_layout, plan)
        }
        _ => (
            key.to_vec(),
            layout.to_string(),
            client
                .prepare_mut(
                    entries_sql(cache_key.1, key).as_str(),
                    &[PgOid::BuiltIn(PgBuiltInOids::UUIDOID)],
                )?
                .keep(),
        ),
    };
    let result = client.update(&plan, None, args).and_then(|mut table| {
        if table.is_empty() {
            return Ok(None);
        }
        table = table.first();
        let datum = |i| {
            table
                .get_datum_by_ordinal(i)
                .map(|d| d.unwrap_or(pg_sys::Datum::from(0)))
        };
        Ok(Some(Arrays {
            tenants: datum(1)?,
            keys: datum(2)?,
            olds: datum(3)?,
            news: datum(4)?,
            count: table.get::<i64>(5)?.unwrap_or(0),
        }))
    });
    PLANS.with(|plans| {
        plans
            .borrow_mut()
            .insert(cache_key, (plan_key, plan_layout, plan))
    });
    result
}

/// Step 2: the log's INSERT from step 1's arrays, from a plan kept for the
/// session.
fn log_entries(
    client: &mut pgrx::spi::SpiClient<'_>,
    args: &[DatumWithOid],
) -> std::result::Result<(), pgrx::spi::Error> {
    let plan = match LOG_PLAN.with(|p| p.borrow_mut().take()) {
        Some(plan) => plan,
        None => {
            let text = PgOid::BuiltIn(PgBuiltInOids::TEXTOID);
            client
                .prepare_mut(
                    LOG_ENTRIES_SQL,
                    &[
                        text,
                        text,
                        text,
                        text,
                        PgOid::BuiltIn(PgBuiltInOids::BOOLOID),
                        PgOid::BuiltIn(PgBuiltInOids::UUIDARRAYOID),
                        PgOid::BuiltIn(PgBuiltInOids::JSONBARRAYOID),
                        PgOid::BuiltIn(PgBuiltInOids::JSONBARRAYOID),
                        PgOid::BuiltIn(PgBuiltInOids::JSONBARRAYOID),
                    ],
                )?
                .keep()
        }
    };
    let result = client.update(&plan, None, args).map(|_| ());
    LOG_PLAN.with(|p| *p.borrow_mut() = Some(plan));
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

fn is_inheritance_relative(relid: pg_sys::Oid) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE inhrelid = $1 OR inhparent = $1)",
        &[relid.into()],
    )?
    .unwrap_or(false))
}

/// The audit triggers of the table that are exactly what
/// `tenant_audit_enable` creates for `key`.
fn our_triggers(relid: pg_sys::Oid, key: &[String]) -> Result<Vec<String>> {
    spi::column::<String>(
        "SELECT t.tgname::text
           FROM pg_catalog.pg_trigger t
           JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid
           JOIN pg_catalog.pg_extension e ON e.extname = 'pg_tenant' AND e.extnamespace = f.pronamespace
          WHERE t.tgrelid = $1 AND f.proname = '_tenant_audit' AND t.tgenabled <> 'D'
            AND t.tgnargs = pg_catalog.cardinality($2::text[])
            -- tgargs: each argument followed by a NUL byte (escape encoding prints it as backslash 000)
            AND pg_catalog.encode(t.tgargs, 'escape') OPERATOR(pg_catalog.=)
                (pg_catalog.array_to_string($2::text[], '\\000') OPERATOR(pg_catalog.||) '\\000')
            AND (t.tgname::text, t.tgtype, coalesce(t.tgoldtable::text, ''), coalesce(t.tgnewtable::text, '')) IN (
                 ('tenant_audit_insert', 4::int2, '', 'tenant_audit_new'),
                 ('tenant_audit_update', 16::int2, 'tenant_audit_old', 'tenant_audit_new'),
                 ('tenant_audit_delete', 8::int2, 'tenant_audit_old', ''),
                 ('tenant_audit_truncate', 34::int2, '', ''))",
        &[relid.into(), key.to_vec().into()],
    )
}

/// Whether the table has audit triggers (`tenant_disable` refuses it: its
/// triggers would go on recording a table that is no longer isolated).
pub fn is_audited(relid: pg_sys::Oid) -> Result<bool> {
    Ok(!existing_triggers(relid)?.is_empty())
}

fn existing_triggers(relid: pg_sys::Oid) -> Result<Vec<String>> {
    spi::column::<String>(
        "SELECT tgname::text FROM pg_catalog.pg_trigger WHERE tgrelid = $1 AND tgname::text LIKE 'tenant\\_audit\\_%'",
        &[relid.into()],
    )
}

/// `_tenant_may_read_audited(relation)`: whether the session may SELECT the
/// audited table an entry of `tenant.audit_log` names (and use its schema) (its read policy asks,
/// per entry: the entries carry whole rows). False for a table that no
/// longer exists under that name, or a name that does not parse; the lookup
/// checks no schema privilege, so it never raises (`to_regclass` raises
/// "permission denied for schema" for a schema the session may not use).
#[pg_extern(stable, strict, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _tenant_may_read_audited(relation: &str) -> bool {
    let Some((schema, table)) = crate::names::split_qualified(relation) else {
        return false;
    };
    let (Ok(schema), Ok(table)) = (
        std::ffi::CString::new(schema),
        std::ffi::CString::new(table),
    ) else {
        return false;
    };
    // SAFETY: catalog lookups by name that return InvalidOid when missing,
    // and a privilege check of the current role.
    unsafe {
        let namespace = pg_sys::get_namespace_oid(schema.as_ptr(), true);
        if namespace == pg_sys::InvalidOid {
            return false;
        }
        // Reading the table also needs USAGE on its schema.
        #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
        let usage = pg_sys::pg_namespace_aclcheck(
            namespace,
            pg_sys::GetUserId(),
            pg_sys::ACL_USAGE as pg_sys::AclMode,
        );
        #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
        let usage = pg_sys::object_aclcheck(
            pg_sys::NamespaceRelationId,
            namespace,
            pg_sys::GetUserId(),
            pg_sys::ACL_USAGE as pg_sys::AclMode,
        );
        if usage != pg_sys::AclResult::ACLCHECK_OK {
            return false;
        }
        let relid = pg_sys::get_relname_relid(table.as_ptr(), namespace);
        relid != pg_sys::InvalidOid
            && pg_sys::pg_class_aclcheck(
                relid,
                pg_sys::GetUserId(),
                pg_sys::ACL_SELECT as pg_sys::AclMode,
            ) == pg_sys::AclResult::ACLCHECK_OK
    }
}
