//! What the catalogs say about tables' tenant isolation: the tenant_id
//! column, its foreign key, RLS flags, policies, the fill trigger, an index led
//! by tenant_id and the registry row. `plan` turns the difference between
//! this state and the expected one into SQL (`tables::plan`); `check` reports it. One query
//! reads any number of tables, so checking a thousand tables stays cheap.

use crate::error::{self, Result};
use crate::names::{BYPASS_POLICY, ISOLATION_POLICY, TENANT_COLUMN};
use crate::store::spi;
use pgrx::prelude::*;
use serde::Deserialize;

/// One JSON text per table: `sql/queries/table_state.sql`.
const STATE_QUERY: &str = include_str!("../../sql/queries/table_state.sql");

#[derive(Deserialize)]
pub struct ColumnState {
    pub type_name: String,
    pub is_uuid: bool,
    pub not_null: bool,
}

#[derive(Deserialize)]
pub struct PolicyState {
    /// `pg_policy.oid`.
    pub oid: i64,
    pub name: String,
    /// `*` for ALL, `r` SELECT, `a` INSERT, `w` UPDATE, `d` DELETE.
    pub command: String,
    pub permissive: bool,
    /// Role names; `public` for PUBLIC.
    pub roles: Vec<String>,
    /// USING and WITH CHECK as `pg_get_expr` prints them (their stored node
    /// trees are read only where needed: `check::leaks`' per-row check).
    pub using: Option<String>,
    pub with_check: Option<String>,
}

#[derive(Deserialize)]
pub struct TriggerState {
    pub function: String,
    /// `pg_trigger.tgtype` bits (ROW=1, BEFORE=2, INSERT=4, ...).
    pub kind: i16,
    pub enabled: bool,
}

/// One of the `tenant_usage_*` statement triggers that count usage.
#[derive(Deserialize)]
pub struct UsageTriggerState {
    pub name: String,
    pub function: String,
    pub kind: i16,
    pub enabled: bool,
    /// Transition table names ('' when none).
    pub old_table: String,
    pub new_table: String,
}

#[derive(Deserialize)]
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
        // JSON text, deserialized straight into the structs (no jsonb, no
        // intermediate serde_json::Value): thousands of tables stay cheap.
        let rows =
            spi::column::<String>(STATE_QUERY, &[oids.to_vec().into(), TENANT_COLUMN.into()])?;
        rows.into_iter()
            .map(|row| {
                serde_json::from_str(&row).map_err(|e| {
                    error::bug(format!(
                        "the table state query returned an unexpected row: {e}"
                    ))
                })
            })
            .collect()
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
        Ok(spi::one::<bool>(&sql, &[])?.unwrap_or(false))
    }

    pub fn count_rows_without_tenant(&self) -> Result<i64> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {TENANT_COLUMN} IS NULL",
            self.qualified_name
        );
        Ok(spi::one::<i64>(&sql, &[])?.unwrap_or(0))
    }
}

#[cfg(test)]
mod unit_tests {
    #[test]
    fn column_names_agree() {
        assert_eq!(
            crate::names::TENANT_COLUMN_C.to_str().unwrap(),
            crate::names::TENANT_COLUMN
        );
    }
}
