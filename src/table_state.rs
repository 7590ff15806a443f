//! What the catalogs say about one table's tenant isolation: the tenant_id
//! column, its foreign key, RLS flags, policies, the fill trigger, an index led
//! by tenant_id and the registry row. `enable` turns the difference between
//! this state and the expected one into SQL; the check routine reports it.

use crate::db;
use crate::error::{self, Result};
use pgrx::prelude::*;

pub const TENANT_COLUMN: &str = "tenant_id";
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
}

pub struct TriggerState {
    pub function: String,
    /// `pg_trigger.tgtype` bits (ROW=1, BEFORE=2, INSERT=4, ...).
    pub kind: i16,
    pub enabled: bool,
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
}

impl TableState {
    pub fn read(oid: pg_sys::Oid) -> Result<Self> {
        let (qualified_name, schema, name, kind, rls_enabled, rls_forced) = read_relation(oid)?;
        Ok(TableState {
            qualified_name,
            schema,
            name,
            kind,
            column: read_column(oid)?,
            has_registry_fk: read_registry_fk(oid)?,
            rls_enabled,
            rls_forced,
            policies: read_policies(oid)?,
            fill_trigger: read_fill_trigger(oid)?,
            tenant_index: read_tenant_index(oid)?,
            registered: read_registered(oid)?,
        })
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

type RelationRow = (String, String, String, String, bool, bool);

fn read_relation(oid: pg_sys::Oid) -> Result<RelationRow> {
    let row = Spi::connect(|client| {
        let table = client.select(
            "SELECT pg_catalog.quote_ident(n.nspname::text) || '.' || pg_catalog.quote_ident(c.relname::text),
                    n.nspname::text, c.relname::text, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid = $1",
            Some(1),
            &[oid.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let row = table.first();
        Ok(Some((
            row.get::<String>(1)?.unwrap_or_default(),
            row.get::<String>(2)?.unwrap_or_default(),
            row.get::<String>(3)?.unwrap_or_default(),
            row.get::<String>(4)?.unwrap_or_default(),
            row.get::<bool>(5)?.unwrap_or(false),
            row.get::<bool>(6)?.unwrap_or(false),
        )))
    })
    .map_err(error::internal)?;
    row.ok_or_else(|| {
        error::report(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("relation with OID {oid:?} does not exist"),
            "Pass the name of an existing table.",
        )
    })
}

fn read_column(oid: pg_sys::Oid) -> Result<Option<ColumnState>> {
    Spi::connect(|client| {
        let table = client.select(
            "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod), a.atttypid = 'pg_catalog.uuid'::pg_catalog.regtype, a.attnotnull
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
            Some(1),
            &[oid.into(), TENANT_COLUMN.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let row = table.first();
        Ok(Some(ColumnState {
            type_name: row.get::<String>(1)?.unwrap_or_default(),
            is_uuid: row.get::<bool>(2)?.unwrap_or(false),
            not_null: row.get::<bool>(3)?.unwrap_or(false),
        }))
    })
    .map_err(error::internal)
}

/// A foreign key on exactly (tenant_id) that references tenant.tenants (id).
fn read_registry_fk(oid: pg_sys::Oid) -> Result<bool> {
    Ok(db::one::<bool>(
        "SELECT EXISTS (
            SELECT FROM pg_catalog.pg_constraint k
              JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
              JOIN pg_catalog.pg_attribute r ON r.attrelid = k.confrelid AND r.attnum = k.confkey[1]
             WHERE k.conrelid = $1 AND k.contype = 'f'
               AND k.confrelid = 'tenant.tenants'::pg_catalog.regclass
               AND pg_catalog.cardinality(k.conkey) = 1
               AND a.attname = $2 AND r.attname = 'id')",
        &[oid.into(), TENANT_COLUMN.into()],
    )?
    .unwrap_or(false))
}

fn read_policies(oid: pg_sys::Oid) -> Result<Vec<PolicyState>> {
    Spi::connect(|client| {
        let mut policies = Vec::new();
        let rows = client.select(
            "SELECT p.polname::text, p.polcmd::text, p.polpermissive,
                    ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)::text) END
                            FROM pg_catalog.unnest(p.polroles) AS r ORDER BY 1),
                    pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                    pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
               FROM pg_catalog.pg_policy p
              WHERE p.polrelid = $1
              ORDER BY p.polname",
            None,
            &[oid.into()],
        )?;
        for row in rows {
            policies.push(PolicyState {
                name: row.get::<String>(1)?.unwrap_or_default(),
                command: row.get::<String>(2)?.unwrap_or_default(),
                permissive: row.get::<bool>(3)?.unwrap_or(true),
                roles: row.get::<Vec<String>>(4)?.unwrap_or_default(),
                using: row.get::<String>(5)?,
                with_check: row.get::<String>(6)?,
            });
        }
        Ok(policies)
    })
    .map_err(error::internal)
}

fn read_fill_trigger(oid: pg_sys::Oid) -> Result<Option<TriggerState>> {
    Spi::connect(|client| {
        let table = client.select(
            "SELECT t.tgfoid::pg_catalog.regprocedure::text, t.tgtype, t.tgenabled <> 'D'
               FROM pg_catalog.pg_trigger t
              WHERE t.tgrelid = $1 AND t.tgname = $2 AND NOT t.tgisinternal",
            Some(1),
            &[oid.into(), FILL_TRIGGER.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let row = table.first();
        Ok(Some(TriggerState {
            function: row.get::<String>(1)?.unwrap_or_default(),
            kind: row.get::<i16>(2)?.unwrap_or(0),
            enabled: row.get::<bool>(3)?.unwrap_or(false),
        }))
    })
    .map_err(error::internal)
}

/// A valid, non-partial index whose first key column is tenant_id.
fn read_tenant_index(oid: pg_sys::Oid) -> Result<Option<String>> {
    db::one::<String>(
        "SELECT i.indexrelid::pg_catalog.regclass::text
           FROM pg_catalog.pg_index i
           JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
          WHERE i.indrelid = $1 AND a.attname = $2 AND i.indpred IS NULL AND i.indisvalid
          ORDER BY i.indexrelid LIMIT 1",
        &[oid.into(), TENANT_COLUMN.into()],
    )
}

fn read_registered(oid: pg_sys::Oid) -> Result<bool> {
    Ok(db::one::<bool>(
        "SELECT EXISTS (SELECT FROM tenant.tables WHERE relid = $1::pg_catalog.regclass)",
        &[oid.into()],
    )?
    .unwrap_or(false))
}
