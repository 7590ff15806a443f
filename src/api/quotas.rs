//! Operators' quota functions: a tenant's plan, its own limits and row
//! limits, and a plan's limits and row limits.

use crate::enforce::quota::{refuse_negative, Quota};
use crate::error;
use crate::registry::limits;
use crate::registry::tenants::{self, Tenant};
use crate::store::{identity, spi};
use pgrx::prelude::*;
use pgrx::spi::{quote_literal, quote_qualified_identifier};
use pgrx::PgRelation;

/// The table as `schema.name`, quoted where needed.
fn qualified(table: &PgRelation) -> String {
    quote_qualified_identifier(table.namespace(), table.name())
}

/// A row quota needs a table whose usage pg_tenant counts. Returns its name.
fn require_counted_table(
    table: Option<PgRelation>,
    function: &str,
) -> error::Result<(pg_sys::Oid, String)> {
    let table = table.ok_or_else(|| error::null_argument(function, "tbl"))?;
    let (oid, name) = (table.oid(), qualified(&table));
    drop(table);
    let tracked = identity::as_registry_owner(|| {
        spi::one::<bool>(
            "SELECT track_usage FROM tenant.tables WHERE relid = $1::regclass",
            &[oid.into()],
        )
    })?;
    match tracked {
        Some(true) => {
            // A partition or inheritance child counts on its counted root,
            // whose row limit holds for it: a limit of its own would never
            // be consulted.
            let root = crate::enforce::usage::counted_as(oid)?;
            if root != oid {
                let root = identity::relation_label(root);
                return Err(error::invalid_parameter(
                    format!("{function}: table {name} counts its rows on {root}, whose row limit applies to it"),
                    format!(
                        "Set the limit on {root}: the rows of its partitions and inheritance children count against it."
                    ),
                ));
            }
            Ok((oid, name))
        }
        Some(false) => Err(error::invalid_parameter(
            format!(
                "{function}: table {name} does not count usage, so a row quota cannot apply to it"
            ),
            format!(
                "Turn counting on: SELECT tenant_enable({}, track_usage => true);",
                quote_literal(&name)
            ),
        )),
        None => Err(error::invalid_parameter(
            format!("{function}: table {name} is not tenant-scoped"),
            format!(
                "Make it tenant-scoped first: SELECT tenant_enable({});",
                quote_literal(&name)
            ),
        )),
    }
}

/// `tenant_plan_set(t, plan)`: moves a tenant to a plan (NULL: no plan, so
/// only its own limits apply). Usage above the new plan's limits is kept;
/// writes that grow it are refused.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_plan_set(t: Option<&str>, plan: Option<&str>) -> error::Result<()> {
    let tenant = tenants::find(t, "tenant_plan_set")?;
    if let Some(plan) = plan {
        limits::require_plan(plan, "tenant_plan_set")?;
    }
    identity::as_registry_owner(|| {
        spi::execute(
            "UPDATE tenant.tenants SET plan = $2, updated_at = now() WHERE id = $1",
            &[tenant.id.into(), plan.into()],
        )
    })
}

/// `tenant_limit_set(t, quota, max)`: the tenant's own limit for members,
/// storage_bytes or api_requests_per_month; NULL goes back to the plan's.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_limit_set(t: Option<&str>, quota: Option<&str>, max: Option<i64>) -> error::Result<()> {
    let quota = Quota::parse_scalar(quota, "tenant_limit_set")?;
    refuse_negative(max, "tenant_limit_set", "max", "use the plan's limit")?;
    let tenant = tenants::find(t, "tenant_limit_set")?;
    set_tenant_column(&tenant, quota, max)
}

fn set_tenant_column(tenant: &Tenant, quota: Quota, max: Option<i64>) -> error::Result<()> {
    // The column name comes from a fixed list (Quota::column), never from input.
    let sql = format!(
        "UPDATE tenant.tenants SET {} = $2, updated_at = now() WHERE id = $1",
        quota.column()
    );
    identity::as_registry_owner(|| spi::execute(&sql, &[tenant.id.into(), max.into()]))
}

/// `tenant_quota_set(t, tbl, max_rows)`: the tenant's own row limit for a
/// tenant-scoped table; NULL goes back to the plan's.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_quota_set(
    t: Option<&str>,
    tbl: Option<PgRelation>,
    max_rows: Option<i64>,
) -> error::Result<()> {
    refuse_negative(
        max_rows,
        "tenant_quota_set",
        "max_rows",
        "use the plan's limit",
    )?;
    let tenant = tenants::find(t, "tenant_quota_set")?;
    let (relid, _) = require_counted_table(tbl, "tenant_quota_set")?;
    identity::as_registry_owner(|| {
        match max_rows {
        None => spi::execute(
            "DELETE FROM tenant.row_limits WHERE tenant_id = $1 AND relid = $2::regclass",
            &[tenant.id.into(), relid.into()],
        ),
        Some(max) => spi::execute(
            "INSERT INTO tenant.row_limits (tenant_id, relid, max_rows) VALUES ($1, $2::regclass, $3)
             ON CONFLICT (tenant_id, relid) DO UPDATE SET max_rows = EXCLUDED.max_rows",
            &[tenant.id.into(), relid.into(), max.into()],
        ),
    }
    })
}

/// `tenant_plan_limit_set(plan, quota, max)`: a plan's limit for members,
/// storage_bytes or api_requests_per_month; NULL means unlimited.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_plan_limit_set(
    plan: Option<&str>,
    quota: Option<&str>,
    max: Option<i64>,
) -> error::Result<()> {
    let plan = plan.ok_or_else(|| error::null_argument("tenant_plan_limit_set", "plan"))?;
    let quota = Quota::parse_scalar(quota, "tenant_plan_limit_set")?;
    refuse_negative(max, "tenant_plan_limit_set", "max", "unlimited")?;
    limits::require_plan(plan, "tenant_plan_limit_set")?;
    let sql = format!(
        "UPDATE tenant.plans SET {} = $2 WHERE id = $1",
        quota.column()
    );
    identity::as_registry_owner(|| spi::execute(&sql, &[plan.into(), max.into()]))
}

/// `tenant_plan_quota_set(plan, tbl, max_rows)`: a plan's row limit for a
/// tenant-scoped table; NULL means unlimited.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_plan_quota_set(
    plan: Option<&str>,
    tbl: Option<PgRelation>,
    max_rows: Option<i64>,
) -> error::Result<()> {
    let plan = plan.ok_or_else(|| error::null_argument("tenant_plan_quota_set", "plan"))?;
    refuse_negative(max_rows, "tenant_plan_quota_set", "max_rows", "unlimited")?;
    limits::require_plan(plan, "tenant_plan_quota_set")?;
    let (relid, _) = require_counted_table(tbl, "tenant_plan_quota_set")?;
    identity::as_registry_owner(|| {
        match max_rows {
        None => spi::execute(
            "DELETE FROM tenant.plan_row_limits WHERE plan_id = $1 AND relid = $2::regclass",
            &[plan.into(), relid.into()],
        ),
        Some(max) => spi::execute(
            "INSERT INTO tenant.plan_row_limits (plan_id, relid, max_rows) VALUES ($1, $2::regclass, $3)
             ON CONFLICT (plan_id, relid) DO UPDATE SET max_rows = EXCLUDED.max_rows",
            &[plan.into(), relid.into(), max.into()],
        ),
    }
    })
}
