//! Tenant lifecycle: suspend, activate, delete (soft), purge, and operator
//! statistics. These functions are granted to `tenant_admin` only; they
//! write the registry as its owner.

use super::erasure::{self, Via};
use crate::error::{self, Result};
use crate::registry::tenants::{self, Tenant, TenantStatus};
use crate::store::{identity, spi};
use pgrx::datum::Interval;
use pgrx::prelude::*;
use pgrx::Uuid;

/// The tenant with its registry row locked, so that concurrent transitions
/// of the same tenant happen one after the other.
pub(crate) fn locked(t: Option<&str>, function: &str) -> Result<Tenant> {
    let mut tenant = tenants::find(t, function)?;
    // The status as it is once the row is ours (a concurrent transition may
    // have changed it while we waited for the lock).
    let status = identity::as_registry_owner(|| {
        spi::execute_one::<String>(
            "SELECT status FROM tenant.tenants WHERE id = $1 FOR UPDATE",
            &[tenant.id.into()],
        )
    })?;
    match status.as_deref().and_then(TenantStatus::parse) {
        Some(status) => tenant.status = status,
        None => return Err(error::unknown_tenant(&tenant.id.to_string())),
    }
    Ok(tenant)
}

fn transition_refused(
    tenant: &Tenant,
    action: &str,
    hint: &str,
) -> pgrx::pg_sys::panic::ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!(
            "cannot {action} tenant {}: it is {}",
            tenant.label(),
            tenant.status.as_str()
        ),
        hint.to_string(),
    )
}

/// Runs an UPDATE of one tenant row as the registry owner.
fn update_tenant(tenant: &Tenant, set: &str) -> Result<()> {
    let sql = format!("UPDATE tenant.tenants SET {set}, updated_at = now() WHERE id = $1");
    identity::as_registry_owner(|| spi::execute(&sql, &[tenant.id.into()]))
}

/// `tenant_suspend(t)`: the tenant's sessions are refused (42501) until it is
/// activated again; its data is kept. Suspending a suspended tenant is a no-op.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_suspend(t: Option<&str>) -> Result<()> {
    let tenant = locked(t, "tenant_suspend")?;
    match tenant.status {
        TenantStatus::Active => {
            update_tenant(&tenant, "status = 'suspended', suspended_at = now()")
        }
        TenantStatus::Suspended => Ok(()),
        TenantStatus::Deleted => Err(transition_refused(
            &tenant,
            "suspend",
            "A deleted tenant is already inaccessible; purge it with tenant_purge(t).",
        )),
    }
}

/// `tenant_activate(t)`: a suspended tenant becomes active again. Deleted
/// tenants cannot come back.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_activate(t: Option<&str>) -> Result<()> {
    let tenant = locked(t, "tenant_activate")?;
    match tenant.status {
        TenantStatus::Suspended => update_tenant(&tenant, "status = 'active', suspended_at = NULL"),
        TenantStatus::Active => Ok(()),
        TenantStatus::Deleted => Err(transition_refused(
            &tenant,
            "activate",
            "Deleted tenants stay deleted until they are purged; create a new tenant instead.",
        )),
    }
}

/// `tenant_delete(t)`: soft delete. Sessions are refused, the data is kept
/// until `tenant_purge` or `tenant_purge_expired`.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_delete(t: Option<&str>) -> Result<()> {
    delete(t)
}

/// `tenant_delete`'s work, also for `tenant.directory`'s DELETE
/// (`api::directory`).
pub fn delete(t: Option<&str>) -> Result<()> {
    let tenant = locked(t, "tenant_delete")?;
    match tenant.status {
        TenantStatus::Deleted => Ok(()),
        _ => update_tenant(&tenant, "status = 'deleted', deleted_at = now()"),
    }
}

/// `tenant_purge(t, force default false)`: removes the tenant's rows from
/// every tenant-scoped table, then the tenant (its members, domains,
/// settings, limits and usage go with it), proves nothing of it is left and
/// writes an erasure record (`api::erasure`). Returns per table the rows
/// removed and a digest of their keys. Only deleted tenants, unless `force`.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_purge(
    t: Option<&str>,
    force: default!(Option<bool>, false),
) -> Result<
    TableIterator<
        'static,
        (
            name!(relation, Option<String>),
            name!(rows_deleted, Option<i64>),
            name!(keys_sha256, Option<String>),
        ),
    >,
> {
    let tenant = locked(t, "tenant_purge")?;
    if tenant.status != TenantStatus::Deleted && !force.unwrap_or(false) {
        return Err(transition_refused(
            &tenant,
            "purge",
            "Delete it first with tenant_delete(t), or pass force => true to purge it now.",
        ));
    }
    let forced = tenant.status != TenantStatus::Deleted;
    let erased = erasure::erase(&tenant, Via::Purge { forced })?;
    Ok(TableIterator::new(erased.into_iter().map(|e| {
        (Some(e.relation), Some(e.rows), Some(e.keys_sha256))
    })))
}

/// 22023 for an interval below zero (as Postgres compares intervals).
pub(crate) fn refuse_negative(interval: Interval, message: &str, hint: &str) -> Result<()> {
    let negative =
        spi::one::<bool>("SELECT $1 < interval '0'", &[interval.into()])?.unwrap_or(false);
    if negative {
        return Err(error::invalid_parameter(message, hint));
    }
    Ok(())
}

/// `tenant_purge_expired(retention default '30 days')`: purges every tenant
/// deleted longer ago than `retention`; returns how many.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_purge_expired(retention: default!(Option<Interval>, "'30 days'")) -> Result<i64> {
    let retention =
        retention.ok_or_else(|| error::null_argument("tenant_purge_expired", "retention"))?;
    refuse_negative(
        retention,
        "tenant_purge_expired: retention must not be negative",
        "Pass how long deleted tenants are kept, e.g. interval '30 days'.",
    )?;
    let expired = identity::as_registry_owner(|| {
        spi::column::<Uuid>(
            "SELECT id FROM tenant.tenants WHERE status = 'deleted' AND deleted_at <= now() - $1 ORDER BY deleted_at",
            &[retention.into()],
        )
    })?;
    for id in &expired {
        let tenant = locked(Some(&id.to_string()), "tenant_purge_expired")?;
        erasure::erase(&tenant, Via::Expired)?;
    }
    Ok(expired.len() as i64)
}

/// `tenant_stats()`: how many tenants there are, by status and by plan.
// pgrx must see `TableIterator` itself in the signature (an alias hides it).
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_stats() -> Result<
    TableIterator<
        'static,
        (
            name!(dimension, Option<String>),
            name!(value, Option<String>),
            name!(tenants, Option<i64>),
        ),
    >,
> {
    let rows = identity::as_registry_owner(|| {
        Spi::connect(|client| {
            let mut rows = Vec::new();
            let table = client.select(
                "SELECT 'total', 'all', count(*) FROM tenant.tenants
                 UNION ALL
                 SELECT 'status', s.status, count(t.id)
                   FROM unnest(ARRAY['active', 'suspended', 'deleted']) WITH ORDINALITY AS s (status, n)
                   LEFT JOIN tenant.tenants t ON t.status = s.status
                  GROUP BY s.status, s.n
                 UNION ALL
                 (SELECT 'plan', coalesce(plan, '(none)'), count(*) FROM tenant.tenants GROUP BY plan ORDER BY 2)",
                None,
                &[],
            )?;
            for row in table {
                rows.push((row.get(1)?, row.get(2)?, row.get(3)?));
            }
            Ok(rows)
        })
        .map_err(error::internal)
    })?;
    Ok(TableIterator::new(rows))
}
