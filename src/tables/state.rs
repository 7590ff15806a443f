//! What the catalogs say about tables' tenant isolation: the tenant_id
//! column, its foreign key, RLS flags, policies, the fill trigger, an index led
//! by tenant_id and the registry row. `plan` turns the difference between
//! this state and the expected one into SQL (`tables::plan`); `check` reports it. The
//! catalogs are read directly (`tables::catalog`), so checking ten thousand
//! tables stays cheap.

use super::catalog::{self, CatalogTable};
use crate::error::{self, Result};
use crate::names::{BYPASS_POLICY, FILL_TRIGGER, ISOLATION_POLICY, TENANTS_TABLE, TENANT_COLUMN};
use crate::store::{identity, lookup, spi};
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use rustc_hash::FxHashMap as HashMap;

/// The stored USING and WITH CHECK trees of the given policies.
const TREES_QUERY: &str =
    "SELECT p.oid::pg_catalog.int8, p.polqual::pg_catalog.text, p.polwithcheck::pg_catalog.text
   FROM pg_catalog.pg_policy p WHERE p.oid = ANY ($1::pg_catalog.int8[]::pg_catalog.oid[])";

/// How many tables are read from the catalogs at a time: their policies'
/// trees (about a kilobyte each) are held in memory one batch at a time,
/// until they are reduced to print keys.
const TABLES_PER_READ: usize = 1000;

pub struct ColumnState {
    pub attnum: i16,
    pub type_name: String,
    pub is_uuid: bool,
    pub not_null: bool,
}

/// A policy. Names of roles and printed expressions are filled in after
/// the catalogs are read (`name_roles_and_functions`, `PrintGroups`).
pub struct PolicyState {
    /// `pg_policy.oid`.
    pub oid: i64,
    pub name: String,
    /// `*` for ALL, `r` SELECT, `a` INSERT, `w` UPDATE, `d` DELETE.
    pub command: String,
    pub permissive: bool,
    /// `pg_policy.polroles`; 0 is PUBLIC.
    role_oids: Vec<i64>,
    /// Role names as `quote_ident` prints them, sorted; `public` for PUBLIC.
    pub roles: Vec<String>,
    /// USING and WITH CHECK as `pg_get_expr` prints them (`PrintGroups`;
    /// their stored node trees are read only where needed: `check::leaks`'
    /// per-row check).
    pub using: Option<String>,
    pub with_check: Option<String>,
}

pub struct TriggerState {
    function_oid: i64,
    /// `pg_trigger.tgtype` bits (ROW=1, BEFORE=2, INSERT=4, ...).
    pub kind: i16,
    pub enabled: bool,
    /// `schema.function()`, quoted as needed.
    pub function: String,
}

/// One of the `tenant_usage_*` statement triggers that count usage.
pub struct UsageTriggerState {
    pub name: String,
    function_oid: i64,
    pub kind: i16,
    pub enabled: bool,
    /// Transition table names ('' when none).
    pub old_table: String,
    pub new_table: String,
    pub function: String,
}

pub struct TableState {
    /// `pg_class.oid`.
    pub oid: i64,
    /// `"schema"."name"`, quoted as needed: safe to paste into SQL text.
    pub qualified_name: String,
    pub schema: String,
    pub name: String,
    pub kind: String,
    pub column: Option<ColumnState>,
    pub has_registry_fk: bool,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub policies: Vec<PolicyState>,
    pub fill_trigger: Option<TriggerState>,
    pub tenant_index: Option<String>,
    pub registered: bool,
    /// tenant.tables.track_usage (false when not registered).
    pub track_usage: bool,
    pub usage_triggers: Vec<UsageTriggerState>,
}

impl TableState {
    /// One table; 42P01 when the OID names no relation.
    pub fn read(oid: pg_sys::Oid) -> Result<Self> {
        Self::read_many(&[oid])?.pop().ok_or_else(|| {
            error::report(
                PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
                format!("relation with OID {oid:?} does not exist"),
                "Pass the name of an existing table.",
            )
        })
    }

    /// Every existing relation among `oids`, in the order of their names.
    pub fn read_many(oids: &[pg_sys::Oid]) -> Result<Vec<Self>> {
        let registry = lookup::registry_table(TENANTS_TABLE)?;
        let registered: HashMap<pg_sys::Oid, bool> = spi::pairs::<pg_sys::Oid, bool>(
            "SELECT relid::pg_catalog.oid, track_usage FROM tenant.tables
              WHERE relid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[]::pg_catalog.regclass[])",
            &[oids.to_vec().into()],
        )?
        .into_iter()
        .collect();
        let mut prints = PrintGroups::default();
        let mut tables: Vec<Self> = Vec::with_capacity(oids.len());
        for batch in oids.chunks(TABLES_PER_READ) {
            for table in catalog::read(batch, registry) {
                prints.add(&table);
                tables.push(Self::from_catalog(table, &registered));
            }
        }
        tables.sort_by(|a, b| a.qualified_name.cmp(&b.qualified_name));
        name_roles_and_functions(&mut tables)?;
        prints.print(&mut tables)?;
        Ok(tables)
    }

    fn from_catalog(t: CatalogTable, registered: &HashMap<pg_sys::Oid, bool>) -> Self {
        let own = |trigger: &&catalog::CatalogTrigger| !trigger.internal;
        let fill_trigger = t
            .triggers
            .iter()
            .filter(own)
            .find(|trigger| trigger.name == FILL_TRIGGER)
            .map(|trigger| TriggerState {
                function_oid: i64::from(trigger.function.to_u32()),
                kind: trigger.kind,
                enabled: trigger.enabled,
                function: String::new(),
            });
        let usage_triggers = t
            .triggers
            .iter()
            .filter(own)
            .filter(|trigger| trigger.name.starts_with("tenant_usage_"))
            .map(|trigger| UsageTriggerState {
                name: trigger.name.clone(),
                function_oid: i64::from(trigger.function.to_u32()),
                kind: trigger.kind,
                enabled: trigger.enabled,
                old_table: trigger.old_table.clone().unwrap_or_default(),
                new_table: trigger.new_table.clone().unwrap_or_default(),
                function: String::new(),
            })
            .collect();
        let policies = t
            .policies
            .into_iter()
            .map(|p| PolicyState {
                oid: i64::from(p.oid.to_u32()),
                name: p.name,
                command: char::from(p.command).to_string(),
                permissive: p.permissive,
                role_oids: p.roles.iter().map(|r| i64::from(r.to_u32())).collect(),
                roles: Vec::new(),
                using: None,
                with_check: None,
            })
            .collect();
        TableState {
            oid: i64::from(t.oid.to_u32()),
            qualified_name: format!(
                "{}.{}",
                quote_identifier(&t.schema),
                quote_identifier(&t.name)
            ),
            kind: char::from(t.kind).to_string(),
            column: t.column.map(|c| ColumnState {
                attnum: c.attnum,
                type_name: c.type_name,
                is_uuid: c.type_oid == pg_sys::UUIDOID,
                not_null: c.not_null,
            }),
            has_registry_fk: t.has_registry_fk,
            rls_enabled: t.rls_enabled,
            rls_forced: t.rls_forced,
            policies,
            fill_trigger,
            tenant_index: t.tenant_index,
            registered: registered.contains_key(&t.oid),
            track_usage: registered.get(&t.oid).copied().unwrap_or(false),
            usage_triggers,
            schema: t.schema,
            name: t.name,
        }
    }

    pub fn usage_trigger(&self, name: &str) -> Option<&UsageTriggerState> {
        self.usage_triggers.iter().find(|t| t.name == name)
    }

    pub fn policy(&self, name: &str) -> Option<&PolicyState> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// Policies that pg_tenant did not create.
    pub fn foreign_policies(&self) -> impl Iterator<Item = &PolicyState> {
        self.policies
            .iter()
            .filter(|p| p.name != ISOLATION_POLICY && p.name != BYPASS_POLICY)
    }

    /// Whether the table has any row, read as the caller when it has the
    /// owner's privileges and as the owner otherwise (its policies and the
    /// functions they call never run with the rights of an operator enabling
    /// another role's table).
    pub fn has_rows(&self) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT FROM {})", self.qualified_name);
        identity::as_caller_or_table_owner(self.relid(), || {
            Ok(spi::one::<bool>(&sql, &[])?.unwrap_or(false))
        })
    }

    /// The rows without a tenant, read as `has_rows` reads.
    pub fn count_rows_without_tenant(&self) -> Result<i64> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {TENANT_COLUMN} IS NULL",
            self.qualified_name
        );
        identity::as_table_owner(
            self.relid(),
            || Ok(spi::one::<i64>(&sql, &[])?.unwrap_or(0)),
        )
    }

    fn relid(&self) -> pg_sys::Oid {
        pg_sys::Oid::from(self.oid as u32)
    }
}

/// The row events pg_tenant's table-owner work causes (`deferred_triggers`).
#[derive(Clone, Copy)]
pub enum RowEvent {
    Insert,
    Delete,
}

/// The INITIALLY DEFERRED triggers of `relid` that fire on `event`: constraint
/// triggers of its own and those of deferred foreign keys (from it, or to
/// it from another table), by constraint name. pg_tenant writes a user's
/// table as its owner in a security-restricted operation, where Postgres
/// refuses to queue a deferred trigger ("cannot fire deferred trigger
/// within security-restricted operation"): such a table is refused up front
/// with its names instead.
pub fn deferred_triggers(relid: pg_sys::Oid, event: RowEvent) -> Result<Vec<String>> {
    let bit: i32 = match event {
        RowEvent::Insert => pg_sys::TRIGGER_TYPE_INSERT as i32,
        RowEvent::Delete => pg_sys::TRIGGER_TYPE_DELETE as i32,
    };
    spi::column::<String>(
        "SELECT DISTINCT pg_catalog.quote_ident(coalesce(k.conname, t.tgname)::text)
           FROM pg_catalog.pg_trigger t
           LEFT JOIN pg_catalog.pg_constraint k ON k.oid OPERATOR(pg_catalog.=) t.tgconstraint
          WHERE t.tgrelid OPERATOR(pg_catalog.=) $1 AND t.tginitdeferred
            AND t.tgenabled OPERATOR(pg_catalog.<>) 'D'
            AND (t.tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) $2) OPERATOR(pg_catalog.<>) 0
          ORDER BY 1",
        &[relid.into(), bit.into()],
    )
}

/// Names of the roles of the tables' policies and of their triggers'
/// functions, from the syscaches (read as the catalogs were), each once.
fn name_roles_and_functions(tables: &mut [TableState]) -> Result<()> {
    let mut role_names: HashMap<i64, String> = HashMap::default();
    let mut function_names: HashMap<i64, String> = HashMap::default();
    // An OID without a name (dropped meanwhile) shows as the number.
    let mut role = |oid: i64| -> String {
        if oid == 0 {
            return "public".to_string();
        }
        role_names
            .entry(oid)
            .or_insert_with(|| {
                catalog::role_name(pg_sys::Oid::from(oid as u32))
                    .map(quote_identifier)
                    .unwrap_or_else(|| oid.to_string())
            })
            .clone()
    };
    for table in tables.iter_mut() {
        for policy in &mut table.policies {
            let mut names: Vec<String> = policy.role_oids.iter().map(|&r| role(r)).collect();
            names.sort();
            policy.roles = names;
        }
    }
    let mut function = |oid: i64| -> String {
        function_names
            .entry(oid)
            .or_insert_with(|| {
                catalog::function_name(pg_sys::Oid::from(oid as u32))
                    .unwrap_or_else(|| oid.to_string())
            })
            .clone()
    };
    for table in tables.iter_mut() {
        if let Some(fill) = &mut table.fill_trigger {
            fill.function = function(fill.function_oid);
        }
        for usage in &mut table.usage_triggers {
            usage.function = function(usage.function_oid);
        }
    }
    Ok(())
}

/// USING and WITH CHECK of a policy: as stored (`pg_node_tree` text) or as
/// `pg_get_expr` prints them.
pub type Clauses = (Option<String>, Option<String>);

/// The stored trees of the given policies (`pg_policy.oid`), for the
/// readers that look into them (`check::leaks`' per-row check, `adopt`).
pub fn policy_trees(policies: &[i64]) -> Result<HashMap<i64, Clauses>> {
    if policies.is_empty() {
        return Ok(HashMap::default());
    }
    Spi::connect(|client| {
        let mut out = HashMap::default();
        for row in client.select(TREES_QUERY, None, &[policies.to_vec().into()])? {
            if let Some(policy) = row.get::<i64>(1)? {
                out.insert(policy, (row.get::<String>(2)?, row.get::<String>(3)?));
            }
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .map_err(error::internal)
}

/// What decides how `pg_get_expr` prints a policy's USING and WITH CHECK:
/// the stored trees, the names of the table's columns and, when a tree holds
/// a whole-row reference, a sub-select with relations of its own (whose
/// aliases are chosen not to clash with the table's name) or a sub-select
/// reading the table's columns (printed qualified), the table itself.
#[derive(PartialEq, Eq, Hash)]
struct PrintKey {
    using: Option<String>,
    with_check: Option<String>,
    column_names: String,
    table: Option<u32>,
}

impl PrintKey {
    fn new(
        using: Option<String>,
        with_check: Option<String>,
        column_names: &[String],
        relid: u32,
    ) -> Self {
        let names_table = |tree: &Option<String>| {
            tree.as_deref().is_some_and(|t| {
                t.contains(":varattno 0 ") || t.contains(":rtable (") || reads_outer_columns(t)
            })
        };
        let table = (names_table(&using) || names_table(&with_check)).then_some(relid);
        PrintKey {
            using: using.map(without_locations),
            with_check: with_check.map(without_locations),
            // NUL is in no name.
            column_names: column_names.join("\0"),
            table,
        }
    }
}

/// Whether a tree reads the table's columns from inside a sub-select (a Var
/// of level 1 or more): `pg_get_expr` prints those qualified with the
/// table's name.
fn reads_outer_columns(tree: &str) -> bool {
    tree.match_indices(":varlevelsup ")
        .any(|(at, field)| !tree[at + field.len()..].starts_with('0'))
}

/// A tree without its `:location` fields (offsets into the statement that
/// created it, which `pg_get_expr` does not print): the same policy created
/// on tables with names of different lengths then has the same key.
fn without_locations(tree: String) -> String {
    const FIELD: &str = " :location ";
    if !tree.contains(FIELD) {
        return tree;
    }
    let mut out = String::with_capacity(tree.len());
    let mut rest = tree.as_str();
    while let Some(at) = rest.find(FIELD) {
        out.push_str(&rest[..at]);
        let value = &rest[at + FIELD.len()..];
        let end = value
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(value.len());
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// Fills in the policies' USING and WITH CHECK as `pg_get_expr` prints them,
/// printing each distinct `PrintKey` once: `pg_get_expr` opens the policy's
/// table (its relation cache entry, built on first use, and a lock held to
/// the end of the transaction), which for thousands of tables was most of
/// the time `tenant_check` took, and one lock per table. Equal keys compare
/// whole, so two policies share a print only if everything it depends on is
/// equal. The print is of the trees the catalog pass read (not read again),
/// so a policy and its print always agree.
#[derive(Default)]
struct PrintGroups {
    /// The policy that prints for each key.
    representative: HashMap<PrintKey, i64>,
    /// The representatives' table and stored trees.
    trees: HashMap<i64, (pg_sys::Oid, Clauses)>,
    /// Each policy's representative.
    printed_as: HashMap<i64, i64>,
}

impl PrintGroups {
    fn add(&mut self, table: &CatalogTable) {
        for policy in &table.policies {
            let key = PrintKey::new(
                policy.using_tree.clone(),
                policy.with_check_tree.clone(),
                &table.column_names,
                table.oid.to_u32(),
            );
            let oid = i64::from(policy.oid.to_u32());
            let shown_by = *self.representative.entry(key).or_insert(oid);
            if shown_by == oid {
                self.trees.insert(
                    oid,
                    (
                        table.oid,
                        (policy.using_tree.clone(), policy.with_check_tree.clone()),
                    ),
                );
            }
            self.printed_as.insert(oid, shown_by);
        }
    }

    fn print(self, tables: &mut [TableState]) -> Result<()> {
        let prints: HashMap<i64, Clauses> = self
            .trees
            .into_iter()
            .map(|(policy, (relid, (using, with_check)))| {
                let print =
                    |tree: Option<String>| tree.and_then(|t| catalog::print_expression(&t, relid));
                (policy, (print(using), print(with_check)))
            })
            .collect();
        for policy in tables.iter_mut().flat_map(|t| t.policies.iter_mut()) {
            if let Some((using, with_check)) =
                self.printed_as.get(&policy.oid).and_then(|r| prints.get(r))
            {
                policy.using = using.clone();
                policy.with_check = with_check.clone();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod unit_tests {
    #[test]
    fn locations_do_not_decide_the_print() {
        assert_eq!(
            super::without_locations(
                "{VAR :varno 1 :location 44} {CONST :location -1 :x 2}".into()
            ),
            "{VAR :varno 1} {CONST :x 2}"
        );
        assert_eq!(super::without_locations("{A :b 1}".into()), "{A :b 1}");
    }

    #[test]
    fn column_names_agree() {
        assert_eq!(
            crate::names::TENANT_COLUMN_C.to_str().unwrap(),
            crate::names::TENANT_COLUMN
        );
    }
}
