//! What the catalogs say about tables' tenant isolation: the tenant_id
//! column, its foreign key, RLS flags, policies, the fill trigger, an index led
//! by tenant_id and the registry row. `enable` turns the difference between
//! this state and the expected one into SQL; `check` reports it. One query
//! reads any number of tables, so checking a thousand tables stays cheap.

use crate::db;
use crate::error::{self, Result};
use pgrx::prelude::*;

pub const TENANT_COLUMN: &str = "tenant_id";
/// The same name for C APIs (must stay equal to TENANT_COLUMN).
pub const TENANT_COLUMN_C: &std::ffi::CStr = c"tenant_id";
pub const ISOLATION_POLICY: &str = "tenant_isolation";
pub const BYPASS_POLICY: &str = "tenant_bypass";
pub const FILL_TRIGGER: &str = "tenant_set_id";

pub struct ColumnState {
    pub type_name: String,
    pub is_uuid: bool,
    pub not_null: bool,
}

pub struct PolicyState {
    pub name: String,
    /// `*` for ALL, `r` SELECT, `a` INSERT, `w` UPDATE, `d` DELETE.
    pub command: String,
    pub permissive: bool,
    /// Role names; `public` for PUBLIC.
    pub roles: Vec<String>,
    /// USING and WITH CHECK as `pg_get_expr` prints them.
    pub using: Option<String>,
    pub with_check: Option<String>,
    /// The same expressions as stored node trees (`pg_node_tree` text).
    pub using_tree: Option<String>,
    pub with_check_tree: Option<String>,
}

pub struct TriggerState {
    pub function: String,
    /// `pg_trigger.tgtype` bits (ROW=1, BEFORE=2, INSERT=4, ...).
    pub kind: i16,
    pub enabled: bool,
}

/// One of the `tenant_usage_*` statement triggers that count usage.
pub struct UsageTriggerState {
    pub name: String,
    pub function: String,
    pub kind: i16,
    pub enabled: bool,
    /// Transition table names ('' when none).
    pub old_table: String,
    pub new_table: String,
}

pub struct TableState {
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
        Spi::connect(|client| {
            let rows = client.select(
                STATE_QUERY,
                None,
                &[oids.to_vec().into(), TENANT_COLUMN.into()],
            )?;
            let mut tables = Vec::new();
            for row in rows {
                tables.push(TableState {
                    qualified_name: row.get(2)?.unwrap_or_default(),
                    schema: row.get(3)?.unwrap_or_default(),
                    name: row.get(4)?.unwrap_or_default(),
                    kind: row.get(5)?.unwrap_or_default(),
                    rls_enabled: row.get(6)?.unwrap_or(false),
                    rls_forced: row.get(7)?.unwrap_or(false),
                    column: match row.get::<String>(8)? {
                        Some(type_name) => Some(ColumnState {
                            type_name,
                            is_uuid: row.get(9)?.unwrap_or(false),
                            not_null: row.get(10)?.unwrap_or(false),
                        }),
                        None => None,
                    },
                    has_registry_fk: row.get(11)?.unwrap_or(false),
                    tenant_index: row.get(12)?,
                    fill_trigger: match row.get::<String>(13)? {
                        Some(function) => Some(TriggerState {
                            function,
                            kind: row.get(14)?.unwrap_or(0),
                            enabled: row.get(15)?.unwrap_or(false),
                        }),
                        None => None,
                    },
                    registered: row.get(16)?.unwrap_or(false),
                    policies: policies_from(
                        row.get(17)?.unwrap_or_default(),
                        row.get(18)?.unwrap_or_default(),
                        row.get(19)?.unwrap_or_default(),
                        row.get(20)?.unwrap_or_default(),
                        row.get(21)?.unwrap_or_default(),
                        row.get(22)?.unwrap_or_default(),
                        row.get(23)?.unwrap_or_default(),
                        row.get(24)?.unwrap_or_default(),
                    ),
                    track_usage: row.get(25)?.unwrap_or(false),
                    usage_triggers: usage_triggers_from(
                        row.get(26)?.unwrap_or_default(),
                        row.get(27)?.unwrap_or_default(),
                        row.get(28)?.unwrap_or_default(),
                        row.get(29)?.unwrap_or_default(),
                        row.get(30)?.unwrap_or_default(),
                        row.get(31)?.unwrap_or_default(),
                    ),
                });
            }
            Ok(tables)
        })
        .map_err(error::internal)
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

    pub fn has_rows(&self) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT FROM {})", self.qualified_name);
        Ok(db::one::<bool>(&sql, &[])?.unwrap_or(false))
    }

    pub fn count_rows_without_tenant(&self) -> Result<i64> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {TENANT_COLUMN} IS NULL",
            self.qualified_name
        );
        Ok(db::one::<i64>(&sql, &[])?.unwrap_or(0))
    }
}

/// Zips the per-policy arrays of STATE_QUERY back into policies. Empty
/// strings stand for NULL expressions (arrays of text cannot say NULL here).
#[allow(clippy::too_many_arguments)]
fn policies_from(
    names: Vec<String>,
    commands: Vec<String>,
    permissive: Vec<bool>,
    roles: Vec<String>,
    using: Vec<String>,
    with_check: Vec<String>,
    using_trees: Vec<String>,
    with_check_trees: Vec<String>,
) -> Vec<PolicyState> {
    let some = |s: &String| (!s.is_empty()).then(|| s.clone());
    (0..names.len())
        .map(|i| PolicyState {
            name: names[i].clone(),
            command: commands[i].clone(),
            permissive: permissive[i],
            roles: roles[i].split(',').map(str::to_string).collect(),
            using: some(&using[i]),
            with_check: some(&with_check[i]),
            using_tree: some(&using_trees[i]),
            with_check_tree: some(&with_check_trees[i]),
        })
        .collect()
}

/// Zips the per-trigger arrays of STATE_QUERY back into usage triggers.
fn usage_triggers_from(
    names: Vec<String>,
    functions: Vec<String>,
    kinds: Vec<i16>,
    enabled: Vec<bool>,
    old_tables: Vec<String>,
    new_tables: Vec<String>,
) -> Vec<UsageTriggerState> {
    (0..names.len())
        .map(|i| UsageTriggerState {
            name: names[i].clone(),
            function: functions[i].clone(),
            kind: kinds[i],
            enabled: enabled[i],
            old_table: old_tables[i].clone(),
            new_table: new_tables[i].clone(),
        })
        .collect()
}

/// One row per relation in $1 (oid[]); $2 is the tenant column's name.
const STATE_QUERY: &str = "
SELECT c.oid,
       pg_catalog.quote_ident(n.nspname::text) || '.' || pg_catalog.quote_ident(c.relname::text),
       n.nspname::text, c.relname::text, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity,
       pg_catalog.format_type(a.atttypid, a.atttypmod), a.atttypid = 'pg_catalog.uuid'::pg_catalog.regtype, a.attnotnull,
       EXISTS (SELECT FROM pg_catalog.pg_constraint k
                 JOIN pg_catalog.pg_attribute r ON r.attrelid = k.confrelid AND r.attnum = k.confkey[1]
                WHERE k.conrelid = c.oid AND k.contype = 'f'
                  AND k.confrelid = 'tenant.tenants'::pg_catalog.regclass
                  AND k.conkey = ARRAY[a.attnum] AND r.attname = 'id'),
       (SELECT i.indexrelid::pg_catalog.regclass::text FROM pg_catalog.pg_index i
         WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum AND i.indpred IS NULL AND i.indisvalid
         ORDER BY i.indexrelid LIMIT 1),
       trg.tgfoid::pg_catalog.regprocedure::text, trg.tgtype, trg.tgenabled <> 'D',
       EXISTS (SELECT FROM tenant.tables t WHERE t.relid = c.oid),
       pol.names, pol.commands, pol.permissive, pol.roles, pol.using_exprs, pol.check_exprs, pol.using_trees, pol.check_trees,
       coalesce((SELECT t.track_usage FROM tenant.tables t WHERE t.relid = c.oid), false),
       ut.names, ut.functions, ut.kinds, ut.enabled, ut.old_tables, ut.new_tables
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN LATERAL (
        SELECT t.tgfoid, t.tgtype, t.tgenabled FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = c.oid AND t.tgname = 'tenant_set_id' AND NOT t.tgisinternal) trg ON true
  LEFT JOIN LATERAL (
        SELECT array_agg(p.polname::text ORDER BY p.polname) AS names,
               array_agg(p.polcmd::text ORDER BY p.polname) AS commands,
               array_agg(p.polpermissive ORDER BY p.polname) AS permissive,
               array_agg((SELECT string_agg(CASE WHEN r = 0 THEN 'public'
                                                 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)::text) END, ',' ORDER BY 1)
                            FROM pg_catalog.unnest(p.polroles) AS r) ORDER BY p.polname) AS roles,
               array_agg(coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '') ORDER BY p.polname) AS using_exprs,
               array_agg(coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '') ORDER BY p.polname) AS check_exprs,
               array_agg(coalesce(p.polqual::text, '') ORDER BY p.polname) AS using_trees,
               array_agg(coalesce(p.polwithcheck::text, '') ORDER BY p.polname) AS check_trees
          FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) pol ON true
  LEFT JOIN LATERAL (
        SELECT array_agg(t.tgname::text ORDER BY t.tgname) AS names,
               array_agg(t.tgfoid::pg_catalog.regprocedure::text ORDER BY t.tgname) AS functions,
               array_agg(t.tgtype ORDER BY t.tgname) AS kinds,
               array_agg(t.tgenabled <> 'D' ORDER BY t.tgname) AS enabled,
               array_agg(coalesce(t.tgoldtable::text, '') ORDER BY t.tgname) AS old_tables,
               array_agg(coalesce(t.tgnewtable::text, '') ORDER BY t.tgname) AS new_tables
          FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = c.oid AND t.tgname::text LIKE 'tenant\\_usage\\_%' AND NOT t.tgisinternal) ut ON true
 WHERE c.oid = ANY ($1)
 ORDER BY 2";

#[cfg(test)]
mod unit_tests {
    #[test]
    fn column_names_agree() {
        assert_eq!(
            super::TENANT_COLUMN_C.to_str().unwrap(),
            super::TENANT_COLUMN
        );
    }
}
