//! `tenant.stat_tenants` (a view over `_tenant_stat_tenants()`) and
//! `tenant_stat_reset()`: the per-tenant statistics `enforce::stats` keeps in
//! shared memory, for operators.

use crate::enforce::stats;
use crate::error;
use crate::store::tenant_stats::{self, Totals};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, Uuid};

fn not_preloaded(function: &str) -> pgrx::pg_sys::panic::ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("{function}: per-tenant statistics need pg_tenant in shared_preload_libraries"),
        "Add pg_tenant to shared_preload_libraries in postgresql.conf (shared_preload_libraries = 'pg_tenant') and restart the server.",
    )
}

/// `_tenant_stat_tenants()`: per tracked tenant of this database, a row for
/// the current period and one for the period before.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_restricted)]
fn _tenant_stat_tenants() -> error::Result<
    TableIterator<
        'static,
        (
            name!(tenant_id, Uuid),
            name!(period, String),
            name!(period_start, TimestampWithTimeZone),
            name!(statements, i64),
            name!(rows_returned, i64),
            name!(rows_written, i64),
            name!(exec_time_ms, f64),
            name!(score, i64),
        ),
    >,
> {
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    let period = stats::period_of(now);
    let rows =
        tenant_stats::snapshot(period).ok_or_else(|| not_preloaded("tenant.stat_tenants"))?;
    let start = |p: i64| {
        TimestampWithTimeZone::try_from(p * stats::period_us()).map_err(|_| {
            error::report(
                PgSqlErrorCode::ERRCODE_DATETIME_FIELD_OVERFLOW,
                "tenant.stat_tenants: a period starts out of range",
                "Report this to pg_tenant's maintainers.",
            )
        })
    };
    let (current_start, last_start) = (start(period)?, start(period - 1)?);
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let row = |tenant: Uuid, name: &str, at: TimestampWithTimeZone, t: Totals, score: u64| {
        (
            tenant,
            name.to_string(),
            at,
            clamp(t.statements),
            clamp(t.rows_returned),
            clamp(t.rows_written),
            t.time_us as f64 / 1000.0,
            clamp(score),
        )
    };
    let mut out = Vec::with_capacity(rows.len() * 2);
    for r in rows {
        let tenant = Uuid::from_bytes(r.tenant);
        out.push(row(tenant, "current", current_start, r.current, r.score));
        out.push(row(tenant, "last", last_start, r.last, r.score));
    }
    Ok(TableIterator::new(out))
}

/// `tenant_stat_reset()`: forgets this database's per-tenant statistics;
/// returns how many tenants were tracked.
#[pg_extern(volatile, parallel_unsafe)]
fn tenant_stat_reset() -> error::Result<i64> {
    tenant_stats::reset()
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
        .ok_or_else(|| not_preloaded("tenant_stat_reset"))
}
