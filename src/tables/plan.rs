//! What tenant isolation needs of a table, as SQL: one planner compares a
//! table's catalog state (`tables::state`) with what isolation needs and emits
//! only the missing statements. `tenant_enable_sql` returns that text;
//! `tenant_enable` executes the very same text (`api::tables`), so the two
//! cannot drift apart, and a second call finds nothing to do. `tenant_check`
//! reports each aspect and prints its statements as the fix.

use super::adopt;
use super::state::{PolicyState, TableState};
use crate::error::{self, Result};
use crate::names::{
    BYPASS_POLICY, FILL_TRIGGER, ISOLATION_POLICY, NEW_ROWS, OLD_ROWS, TENANT_COLUMN,
    USAGE_TRIGGER_FUNCTION,
};
use crate::store::spi;
use pgrx::prelude::*;
use pgrx::spi::{quote_identifier, quote_literal};
use pgrx::Uuid;

/// `tgtype` of a BEFORE INSERT FOR EACH ROW trigger (ROW | BEFORE | INSERT).
const BEFORE_INSERT_ROW: i16 = 1 | 2 | 4;

/// What the caller asked `tenant_enable` for, beyond the defaults.
pub struct EnableOptions {
    pub add_column: bool,
    pub backfill_tenant: Option<Uuid>,
    pub create_index: bool,
    pub track_usage: bool,
}

/// The statement triggers that count usage: name, event, `tgtype` bits
/// (INSERT=4, DELETE=8, UPDATE=16, TRUNCATE=32; AFTER, FOR EACH STATEMENT)
/// and transition tables (old, new). Transition tables allow one event per
/// trigger, hence four.
/// (name, event, tgtype, old transition table, new transition table).
type UsageTrigger = (
    &'static str,
    &'static str,
    i16,
    Option<&'static str>,
    Option<&'static str>,
);

const USAGE_TRIGGERS: [UsageTrigger; 4] = [
    ("tenant_usage_insert", "INSERT", 4, None, Some(NEW_ROWS)),
    (
        "tenant_usage_update",
        "UPDATE",
        16,
        Some(OLD_ROWS),
        Some(NEW_ROWS),
    ),
    ("tenant_usage_delete", "DELETE", 8, Some(OLD_ROWS), None),
    ("tenant_usage_truncate", "TRUNCATE", 32, None, None),
];

/// The expressions pg_tenant's policies use, written once so that creating a
/// policy and recognising an existing one agree.
pub struct Expressions {
    schema: String,
}

impl Expressions {
    pub fn for_extension() -> Result<Self> {
        Ok(Expressions {
            schema: spi::extension_schema()?,
        })
    }

    /// `tenant_id = (SELECT current_tenant_id())`: the sub-select becomes an
    /// InitPlan, evaluated once per statement, and the comparison is a plain
    /// index condition on tenant_id.
    pub fn isolation(&self) -> String {
        format!(
            "{TENANT_COLUMN} = (SELECT {}.current_tenant_id())",
            self.schema
        )
    }

    /// How `pg_get_expr` prints `isolation()` when `search_path` is pinned to
    /// pg_catalog (as it is inside pg_tenant's functions).
    pub fn isolation_deparsed(&self) -> String {
        self.isolation_deparsed_on(TENANT_COLUMN)
    }

    /// The same for another column (the registry's `tenant.tenants.id`).
    pub fn isolation_deparsed_on(&self, column: &str) -> String {
        format!(
            "({column} = ( SELECT {}.current_tenant_id() AS current_tenant_id))",
            self.schema
        )
    }

    /// The registry's `tenant_admin_read`/`_write` clause, as Postgres
    /// prints it back.
    pub fn operator_reads_deparsed(&self) -> String {
        format!(
            "( SELECT {}._tenant_operator_reads() AS _tenant_operator_reads)",
            self.schema
        )
    }

    /// tenant.audit_log's `tenant_isolation` clause, as Postgres prints it
    /// back: the tenant's entries, of the tables the session may SELECT.
    pub fn audit_isolation_deparsed(&self) -> String {
        format!(
            "({} AND {}._tenant_may_read_audited(relation))",
            self.isolation_deparsed_on(crate::names::TENANT_COLUMN),
            self.schema
        )
    }

    pub fn bypass(&self) -> String {
        format!("(SELECT {}.tenant_bypass_requested())", self.schema)
    }

    pub fn bypass_deparsed(&self) -> String {
        format!(
            "( SELECT {}.tenant_bypass_requested() AS tenant_bypass_requested)",
            self.schema
        )
    }

    pub fn usage_trigger_function(&self) -> String {
        format!("{}.{USAGE_TRIGGER_FUNCTION}()", self.schema)
    }

    pub fn fill_trigger_function(&self) -> String {
        format!("{}.{FILL_TRIGGER}()", self.schema)
    }

    pub fn function(&self, name: &str) -> String {
        format!("{}.{name}", self.schema)
    }
}

/// The isolation policy exactly as pg_tenant creates it: permissive, FOR ALL,
/// TO PUBLIC, same tenant match in USING and WITH CHECK.
pub fn is_expected_isolation_policy(policy: &PolicyState, exprs: &Expressions) -> bool {
    let expected = exprs.isolation_deparsed();
    policy.command == "*"
        && policy.permissive
        && policy.roles == ["public"]
        && policy.using.as_deref() == Some(expected.as_str())
        && policy.with_check.as_deref() == Some(expected.as_str())
}

/// The bypass policy: permissive, FOR ALL, TO tenant_bypass only, and only
/// when the session asked for it.
pub fn is_expected_bypass_policy(policy: &PolicyState, exprs: &Expressions) -> bool {
    let expected = exprs.bypass_deparsed();
    policy.command == "*"
        && policy.permissive
        && policy.roles == ["tenant_bypass"]
        && policy.using.as_deref() == Some(expected.as_str())
        && policy.with_check.as_deref() == Some(expected.as_str())
}

/// The statements that make `table` tenant-scoped, empty when it already is.
pub fn plan_enable(table: &TableState, options: &EnableOptions) -> Result<Vec<String>> {
    refuse_unsupported(table)?;
    let exprs = Expressions::for_extension()?;
    // What other tools left first: their trigger and default would otherwise
    // still fire for the backfill and in between.
    let mut sql = adopt::statements(table)?;
    let column_added = plan_column(table, options, &mut sql)?;
    sql.extend(foreign_key_statements(table));
    sql.extend(enable_rls_statements(table));
    sql.extend(force_rls_statements(table));
    sql.extend(isolation_policy_statements(table, &exprs));
    sql.extend(bypass_policy_statements(table, &exprs));
    sql.extend(fill_trigger_statements(table, &exprs));
    let index = if options.create_index {
        index_statements(table)
    } else {
        Vec::new()
    };
    let index_created = !index.is_empty();
    sql.extend(index);
    if !table.registered {
        sql.push(format!(
            "SELECT {}({}::regclass, column_added => {column_added}, index_created => {index_created})",
            exprs.function("_tenant_register_table"),
            quote_literal(&table.qualified_name)
        ));
    }
    sql.extend(usage_statements(table, &exprs, options.track_usage));
    Ok(sql)
}

// One planner per aspect of isolation. Each returns the statements that
// repair its aspect, empty when it is as expected: tenant_enable runs them
// all, tenant_check reports each one (and prints them as the fix).

pub fn foreign_key_statements(table: &TableState) -> Vec<String> {
    if table.has_registry_fk {
        return Vec::new();
    }
    vec![format!(
        "ALTER TABLE {} ADD FOREIGN KEY ({TENANT_COLUMN}) REFERENCES tenant.tenants (id)",
        table.qualified_name
    )]
}

pub fn enable_rls_statements(table: &TableState) -> Vec<String> {
    if table.rls_enabled {
        return Vec::new();
    }
    vec![format!(
        "ALTER TABLE {} ENABLE ROW LEVEL SECURITY",
        table.qualified_name
    )]
}

pub fn force_rls_statements(table: &TableState) -> Vec<String> {
    if table.rls_forced {
        return Vec::new();
    }
    vec![format!(
        "ALTER TABLE {} FORCE ROW LEVEL SECURITY",
        table.qualified_name
    )]
}

pub fn isolation_policy_statements(table: &TableState, exprs: &Expressions) -> Vec<String> {
    let isolation = exprs.isolation();
    policy_statements(
        table,
        ISOLATION_POLICY,
        table.policy(ISOLATION_POLICY).is_some_and(|p| is_expected_isolation_policy(p, exprs)),
        format!(
            "CREATE POLICY {ISOLATION_POLICY} ON {} AS PERMISSIVE FOR ALL TO PUBLIC USING ({isolation}) WITH CHECK ({isolation})",
            table.qualified_name
        ),
        "pg_tenant: rows of the tenant in app.current_tenant only",
    )
}

pub fn bypass_policy_statements(table: &TableState, exprs: &Expressions) -> Vec<String> {
    let bypass = exprs.bypass();
    policy_statements(
        table,
        BYPASS_POLICY,
        table.policy(BYPASS_POLICY).is_some_and(|p| is_expected_bypass_policy(p, exprs)),
        format!(
            "CREATE POLICY {BYPASS_POLICY} ON {} AS PERMISSIVE FOR ALL TO tenant_bypass USING ({bypass}) WITH CHECK ({bypass})",
            table.qualified_name
        ),
        "pg_tenant: members of tenant_bypass that set app.bypass_rls = on see every tenant",
    )
}

/// Creates a policy, first dropping a same-named one that is not as expected.
fn policy_statements(
    table: &TableState,
    name: &str,
    as_expected: bool,
    create: String,
    comment: &str,
) -> Vec<String> {
    if as_expected {
        return Vec::new();
    }
    let t = &table.qualified_name;
    let mut sql = Vec::new();
    if table.policy(name).is_some() {
        sql.push(format!("DROP POLICY {name} ON {t}"));
    }
    sql.push(create);
    sql.push(format!(
        "COMMENT ON POLICY {name} ON {t} IS {}",
        quote_literal(comment)
    ));
    sql
}

pub fn fill_trigger_statements(table: &TableState, exprs: &Expressions) -> Vec<String> {
    let t = &table.qualified_name;
    let function = exprs.fill_trigger_function();
    let existing = table.fill_trigger.as_ref().map(|trigger| {
        let as_expected = trigger.function == function && trigger.kind == BEFORE_INSERT_ROW;
        (as_expected, trigger.enabled)
    });
    trigger_statements(
        table,
        FILL_TRIGGER,
        existing,
        format!("CREATE TRIGGER {FILL_TRIGGER} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {function}"),
        "pg_tenant: fills tenant_id from app.current_tenant",
    )
}

/// Creates a trigger, first dropping a same-named one that is not as
/// expected; re-enables one that is as expected but disabled. `existing` is
/// (as expected, enabled) when a trigger of that name exists.
fn trigger_statements(
    table: &TableState,
    name: &str,
    existing: Option<(bool, bool)>,
    create: String,
    comment: &str,
) -> Vec<String> {
    let t = &table.qualified_name;
    match existing {
        Some((true, true)) => Vec::new(),
        Some((true, false)) => vec![format!("ALTER TABLE {t} ENABLE TRIGGER {name}")],
        other => {
            let mut sql = Vec::new();
            if other.is_some() {
                sql.push(format!("DROP TRIGGER {name} ON {t}"));
            }
            sql.push(create);
            sql.push(format!(
                "COMMENT ON TRIGGER {name} ON {t} IS {}",
                quote_literal(comment)
            ));
            sql
        }
    }
}

/// Counting usage (`track`) or not. Attaching missing triggers also recounts
/// the table's rows per tenant (`_tenant_usage_start`), since counters kept
/// without them are not right; turning counting off removes the counters.
pub fn usage_statements(table: &TableState, exprs: &Expressions, track: bool) -> Vec<String> {
    let t = &table.qualified_name;
    let mut sql = Vec::new();
    if !track {
        for (name, ..) in USAGE_TRIGGERS {
            if table.usage_trigger(name).is_some() {
                sql.push(format!("DROP TRIGGER {name} ON {t}"));
            }
        }
    } else {
        let function = exprs.usage_trigger_function();
        for (name, event, kind, old, new) in USAGE_TRIGGERS {
            let existing = table.usage_trigger(name).map(|e| {
                let as_expected = e.function == function
                    && e.kind == kind
                    && e.old_table == old.unwrap_or_default()
                    && e.new_table == new.unwrap_or_default();
                (as_expected, e.enabled)
            });
            let referencing = match (old, new) {
                (None, None) => String::new(),
                _ => format!(
                    " REFERENCING{}{}",
                    old.map(|o| format!(" OLD TABLE AS {o}"))
                        .unwrap_or_default(),
                    new.map(|n| format!(" NEW TABLE AS {n}"))
                        .unwrap_or_default()
                ),
            };
            sql.extend(trigger_statements(
                table,
                name,
                existing,
                format!("CREATE TRIGGER {name} AFTER {event} ON {t}{referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}"),
                &format!("pg_tenant: counts rows and bytes per tenant after {event}, for quotas"),
            ));
        }
    }
    // Counters kept while a trigger was missing or disabled are not right:
    // recount whenever a trigger is repaired. Stopping removes the counters.
    let function = match (track, table.track_usage) {
        (true, false) => "_tenant_usage_start",
        (true, true) if !sql.is_empty() => "_tenant_usage_start",
        (false, true) => "_tenant_usage_stop",
        _ => return sql,
    };
    sql.push(format!(
        "SELECT {}({}::regclass)",
        exprs.function(function),
        quote_literal(t)
    ));
    sql
}

pub fn index_statements(table: &TableState) -> Vec<String> {
    if table.tenant_index.is_some() {
        return Vec::new();
    }
    let index = quote_identifier(format!("{}_{TENANT_COLUMN}_idx", table.name));
    vec![
        format!("CREATE INDEX {index} ON {} ({TENANT_COLUMN})", table.qualified_name),
        format!(
            "COMMENT ON INDEX {} IS 'pg_tenant: index led by tenant_id, used by the tenant_isolation policy'",
            sibling_name(table, &index)
        ),
    ]
}

/// Adds or checks the tenant_id column; returns whether it is being added.
fn plan_column(table: &TableState, options: &EnableOptions, sql: &mut Vec<String>) -> Result<bool> {
    let t = &table.qualified_name;
    match &table.column {
        Some(column) if !column.is_uuid => Err(error::report(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("column {TENANT_COLUMN} of table {t} has type {}, not uuid", column.type_name),
            format!("Convert it first: ALTER TABLE {t} ALTER COLUMN {TENANT_COLUMN} TYPE uuid USING {TENANT_COLUMN}::uuid;"),
        )),
        Some(column) => {
            if !column.not_null {
                let missing = table.count_rows_without_tenant()?;
                if missing > 0 {
                    let tenant = backfill_or_refuse(table, options, Some(missing))?;
                    sql.push(format!(
                        "UPDATE {t} SET {TENANT_COLUMN} = {}::uuid WHERE {TENANT_COLUMN} IS NULL",
                        quote_literal(tenant.to_string())
                    ));
                }
                sql.push(format!("ALTER TABLE {t} ALTER COLUMN {TENANT_COLUMN} SET NOT NULL"));
            }
            Ok(false)
        }
        None if !options.add_column => Err(error::report(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("table {t} has no {TENANT_COLUMN} column"),
            format!(
                "Add it with tenant_enable({}, add_column => true), giving backfill_tenant => '<tenant>' if the table has rows.",
                quote_literal(t)
            ),
        )),
        None => {
            if table.has_rows()? {
                let tenant = backfill_or_refuse(table, options, None)?;
                // A constant default fills existing rows without rewriting the
                // table and without going through RLS; then it is dropped.
                sql.push(format!(
                    "ALTER TABLE {t} ADD COLUMN {TENANT_COLUMN} uuid NOT NULL DEFAULT {}::uuid",
                    quote_literal(tenant.to_string())
                ));
                sql.push(format!("ALTER TABLE {t} ALTER COLUMN {TENANT_COLUMN} DROP DEFAULT"));
            } else {
                sql.push(format!("ALTER TABLE {t} ADD COLUMN {TENANT_COLUMN} uuid NOT NULL"));
            }
            Ok(true)
        }
    }
}

/// Existing rows need a tenant: the caller's backfill tenant, or an error.
/// `missing` counts the NULL tenant_ids of an existing column; None when the
/// column is being added (every row needs one).
fn backfill_or_refuse(
    table: &TableState,
    options: &EnableOptions,
    missing: Option<i64>,
) -> Result<Uuid> {
    options.backfill_tenant.ok_or_else(|| {
        let (rows, add_column) = match missing {
            Some(n) => (format!("{n} rows"), ""),
            None => ("existing rows".to_string(), ", add_column => true"),
        };
        error::report(
            PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
            format!("table {} has {rows} without a tenant", table.qualified_name),
            format!(
                "Name the tenant that owns them: tenant_enable({}{add_column}, backfill_tenant => '<tenant id or slug>'), or fill {TENANT_COLUMN} yourself first.",
                quote_literal(&table.qualified_name)
            ),
        )
    })
}

/// The statements that undo `plan_enable`, keeping the column, its foreign
/// key, its index and the data. RLS stays on when other policies remain, since
/// turning it off would also switch those off.
pub fn plan_disable(table: &TableState) -> Result<Vec<String>> {
    let exprs = Expressions::for_extension()?;
    let t = &table.qualified_name;
    let mut sql = Vec::new();
    for name in [ISOLATION_POLICY, BYPASS_POLICY] {
        if table.policy(name).is_some() {
            sql.push(format!("DROP POLICY {name} ON {t}"));
        }
    }
    if table.fill_trigger.is_some() {
        sql.push(format!("DROP TRIGGER {FILL_TRIGGER} ON {t}"));
    }
    for trigger in &table.usage_triggers {
        sql.push(format!("DROP TRIGGER {} ON {t}", trigger.name));
    }
    if table.foreign_policies().next().is_none() {
        if table.rls_forced {
            sql.push(format!("ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY"));
        }
        if table.rls_enabled {
            sql.push(format!("ALTER TABLE {t} DISABLE ROW LEVEL SECURITY"));
        }
    }
    if table.registered {
        sql.push(format!(
            "SELECT {}({}::regclass)",
            exprs.function("_tenant_unregister_table"),
            quote_literal(t)
        ));
    }
    Ok(sql)
}

/// Only ordinary and partitioned tables, and never the registry itself.
fn refuse_unsupported(table: &TableState) -> Result<()> {
    if table.schema == "tenant" {
        return Err(error::invalid_parameter(
            format!(
                "{} is part of the pg_tenant registry and is managed by the extension",
                table.qualified_name
            ),
            "Call tenant_enable on your own tables.",
        ));
    }
    if table.kind != "r" && table.kind != "p" {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("{} is not a table", table.qualified_name),
            "tenant_enable works on ordinary and partitioned tables; a view over a tenant-scoped table should use security_invoker.",
        ));
    }
    Ok(())
}

/// Schema-qualified name of an object created in the table's schema.
fn sibling_name(table: &TableState, quoted_name: &str) -> String {
    format!("{}.{quoted_name}", quote_identifier(&table.schema))
}

/// Joins statements into the text that tenant_enable runs and
/// tenant_enable_sql returns.
pub fn render(table: &TableState, statements: &[String], nothing_to_do: &str) -> String {
    if statements.is_empty() {
        format!("-- pg_tenant: {} {nothing_to_do}", table.qualified_name)
    } else {
        statements.iter().map(|s| format!("{s};\n")).collect()
    }
}
