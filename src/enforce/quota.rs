//! Quotas: members, rows per tenant-scoped table, storage bytes and API
//! requests per month, enforced inside Postgres. This module holds the quota
//! kinds and the refusal; around it:
//!
//! - `registry::limits`: plans (`tenant.plans`), per-tenant overrides and
//!   the effective limit of each quota, cached per session;
//! - `enforce::row_size`: how many bytes a row counts for (one definition for
//!   the triggers and for reconciliation);
//! - `store::counter_rows`: adds to a counter row without SQL (the per-write path);
//! - `enforce::usage`: the statement triggers that keep `tenant.usage_totals`
//!   and `tenant.usage_by_table` up to date and refuse writes past a limit;
//! - `api::reconcile`: recomputes the counters from the tables;
//! - `api::api_requests`: `tenant_record_api_request` and `tenant_check_api_quota`.
//!
//! Exactness: without `shared_preload_libraries`, every change to a
//! tenant's counters first updates its `tenant.usage_totals` row, so a
//! tenant's concurrent writers queue on that row lock and each sees the
//! count its predecessors committed. Preloaded, a tenant's writers add to
//! stripes of their own and `store::escrow` keeps what they have not
//! committed yet, so they commit in parallel and a check still counts
//! everyone's additions. Constant cost: a check reads a tenant's counter
//! rows by primary key and limits from a cache, never the tenant's rows.

use crate::error;
use crate::registry::limits;
use crate::store::escrow;
use pgrx::pg_sys::panic::ErrorReport;

/// The quotas pg_tenant enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    Members,
    Rows,
    StorageBytes,
    ApiRequestsPerMonth,
}

impl Quota {
    /// The quotas `tenant_limit_set` and `tenant_plan_limit_set` accept
    /// (rows have their own functions, which name the table).
    pub fn parse_scalar(text: Option<&str>, function: &str) -> crate::error::Result<Quota> {
        match text {
            Some("members") => Ok(Quota::Members),
            Some("storage_bytes") => Ok(Quota::StorageBytes),
            Some("api_requests_per_month") => Ok(Quota::ApiRequestsPerMonth),
            Some("rows") => Err(error::invalid_parameter(
                format!("{function}: row limits are set per table"),
                "Use tenant_quota_set(t, table, max_rows) or tenant_plan_quota_set(plan, table, max_rows).",
            )),
            Some(other) => Err(error::invalid_parameter(
                format!("{function}: \"{other}\" is not a quota"),
                "Pass one of members, storage_bytes, api_requests_per_month.",
            )),
            None => Err(error::null_argument(function, "quota")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Quota::Members => "members",
            Quota::Rows => "rows",
            Quota::StorageBytes => "storage_bytes",
            Quota::ApiRequestsPerMonth => "api_requests_per_month",
        }
    }

    /// The column of tenant.tenants and tenant.plans that holds this limit.
    pub fn column(self) -> &'static str {
        match self {
            Quota::Members => "max_members",
            Quota::Rows => "max_rows",
            Quota::StorageBytes => "max_storage_bytes",
            Quota::ApiRequestsPerMonth => "max_api_requests_per_month",
        }
    }
}

/// What exceeded its quota, for the error message.
pub struct Exceeded<'a> {
    pub tenant_slug: &'a str,
    pub quota: Quota,
    /// The table, for row quotas.
    pub table: Option<&'a str>,
    pub limit: i64,
    /// The usage the refused write would have reached.
    pub usage: i64,
    /// Where the limit comes from ("plan \"free\"" or "the tenant's override").
    pub source: &'a str,
}

/// The quota error: SQLSTATE PT031-PT034 by quota kind, naming the tenant, the quota, the limit
/// and the usage, with a hint that says how to get room.
pub fn exceeded(e: &Exceeded) -> ErrorReport {
    let slug = e.tenant_slug;
    let (what, hint) = match e.quota {
        Quota::Rows => {
            let table = e.table.unwrap_or("?");
            (
                format!("rows in {table}"),
                format!(
                    "Delete rows, move the tenant to a larger plan (tenant_plan_set), or raise its limit: SELECT tenant_quota_set('{slug}', {}, <max_rows>);",
                    pgrx::spi::quote_literal(table)
                ),
            )
        }
        Quota::Members => (
            "members".to_string(),
            format!("Remove a member, move the tenant to a larger plan (tenant_plan_set), or raise its limit: SELECT tenant_limit_set('{slug}', 'members', <max>);"),
        ),
        Quota::StorageBytes => (
            "storage bytes".to_string(),
            format!("Delete data, move the tenant to a larger plan (tenant_plan_set), or raise its limit: SELECT tenant_limit_set('{slug}', 'storage_bytes', <bytes>);"),
        ),
        Quota::ApiRequestsPerMonth => (
            "API requests this month".to_string(),
            format!("The count starts again on the 1st of next month (UTC); or move the tenant to a larger plan, or raise its limit: SELECT tenant_limit_set('{slug}', 'api_requests_per_month', <max>);"),
        ),
    };
    let refusal = match e.quota {
        Quota::Rows => error::Refusal::RowQuota,
        Quota::StorageBytes => error::Refusal::StorageQuota,
        Quota::Members => error::Refusal::MemberQuota,
        Quota::ApiRequestsPerMonth => error::Refusal::ApiRequestQuota,
    };
    error::refusal(
        refusal,
        format!(
            "tenant \"{slug}\" is over its {} quota: {what} would be {}, the limit is {}",
            e.quota.as_str(),
            e.usage,
            e.limit
        ),
        hint,
    )
    .set_detail(format!("The limit comes from {}.", e.source))
}

/// Raises the quota error when `usage` passes the tenant's limit for `quota`
/// (`limit_of` picks it from the tenant's limits). Call as the registry owner.
/// `table` names the table for row quotas; it is called only for the error
/// message, as building a quoted name costs more than the check.
pub fn refuse_past(
    tenant: pgrx::Uuid,
    quota: Quota,
    table: Option<&dyn Fn() -> String>,
    usage: i64,
    limit_of: impl FnOnce(&limits::TenantLimits) -> error::Result<limits::Limit>,
) -> error::Result<()> {
    let Some(tenant_limits) = limits::of_tenant(tenant)? else {
        return Ok(());
    };
    let limit = limit_of(&tenant_limits)?;
    if !limit.exceeded_by(usage) {
        return Ok(());
    }
    let table = table.map(|name| name());
    Err(exceeded(&Exceeded {
        tenant_slug: &tenant_limits.record.slug,
        quota,
        table: table.as_deref(),
        limit: limit.max.unwrap_or_default(),
        usage,
        source: &limit.source,
    }))
}

/// A write added `delta` (> 0 checks, anything else passes) to a counter
/// of `tenant` split over stripes (`counter`: a table's OID for its rows, 0
/// for storage). Raises the quota error when the counter (`usage`: the sum
/// of its stripes, read fresh) would pass the tenant's limit for `quota`.
/// With the escrow (`store::escrow`, when preloaded) the delta is also
/// reserved, and the other writers' reservations count too; without it the
/// caller holds the row lock every writer of the counter queues on.
pub fn refuse_over(
    tenant: pgrx::Uuid,
    quota: Quota,
    counter: u32,
    delta: i64,
    table: Option<&dyn Fn() -> String>,
    limit_of: impl FnOnce(&limits::TenantLimits) -> error::Result<limits::Limit>,
    mut usage: impl FnMut() -> error::Result<i64>,
) -> error::Result<()> {
    if delta <= 0 {
        return Ok(());
    }
    let tenant_limits = limits::of_tenant(tenant)?;
    let limit = match &tenant_limits {
        Some(l) => Some(limit_of(l)?),
        None => None,
    };
    let max = limit.as_ref().and_then(|l| l.max);
    let over = if escrow::available() {
        match escrow::settle(tenant.as_bytes(), counter, delta, max, usage)? {
            escrow::Settled::Within => None,
            escrow::Settled::Over(reached) => Some(reached),
        }
    } else if max.is_some() {
        let reached = usage()?;
        max.is_some_and(|max| reached > max).then_some(reached)
    } else {
        None
    };
    let (Some(reached), Some(tenant_limits), Some(limit)) = (over, tenant_limits, limit) else {
        return Ok(());
    };
    let table = table.map(|name| name());
    Err(exceeded(&Exceeded {
        tenant_slug: &tenant_limits.record.slug,
        quota,
        table: table.as_deref(),
        limit: limit.max.unwrap_or_default(),
        usage: reached,
        source: &limit.source,
    }))
}

/// Refuses a limit below zero. NULL is fine: `null_means` says what it does
/// in this function ("use the plan's limit", "unlimited").
pub fn refuse_negative(
    max: Option<i64>,
    function: &str,
    argument: &str,
    null_means: &str,
) -> error::Result<()> {
    match max {
        Some(n) if n < 0 => Err(error::invalid_parameter(
            format!("{function}: {argument} must not be negative (got {n})"),
            format!("Pass 0 or more, or NULL ({null_means})."),
        )),
        _ => Ok(()),
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::{exceeded, Exceeded, Quota};
    use pgrx::prelude::*;

    #[pg_test]
    // The SQLSTATE (53400) is checked by tests/pg_regress/sql/quotas.sql.
    fn quota_errors_name_everything_and_quote_the_table_in_the_hint() {
        let error = exceeded(&Exceeded {
            tenant_slug: "acme",
            quota: Quota::Rows,
            table: Some("\"My Schema\".\"it's\""),
            limit: 1,
            usage: 2,
            source: "plan \"free\"",
        });
        assert_eq!(
            error.message(),
            "pg_tenant: tenant \"acme\" is over its rows quota: rows in \"My Schema\".\"it's\" would be 2, the limit is 1"
        );
        assert!(error
            .hint()
            .unwrap()
            .ends_with("SELECT tenant_quota_set('acme', '\"My Schema\".\"it''s\"', <max_rows>);"));
        assert_eq!(error.detail(), Some("The limit comes from plan \"free\"."));
    }
}
