//! API requests per calendar month (UTC): `tenant_record_api_request` counts
//! them for the current tenant in `tenant.usage` and refuses past the limit;
//! `tenant_check_api_quota` says whether another request fits.

use crate::enforce::quota::{refuse_past, Quota};
use crate::enforce::{authz, current};
use crate::error::{self, Result};
use crate::registry::limits;
use crate::store::{identity, spi};
use pgrx::prelude::*;

/// The first day of the current month in UTC, as SQL.
const THIS_MONTH: &str = "date_trunc('month', now() AT TIME ZONE 'UTC')::date";

/// `tenant_record_api_request(n default 1)`: adds `n` requests to the current
/// tenant's count for this month and returns the new count. Past the limit
/// it raises the quota error, and the requests are not counted (the upsert's
/// row lock makes concurrent callers exact).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_record_api_request(n: default!(Option<i32>, 1)) -> Result<i64> {
    let n = n.ok_or_else(|| error::null_argument("tenant_record_api_request", "n"))?;
    if n < 1 {
        return Err(error::invalid_parameter(
            format!("tenant_record_api_request: n must be at least 1 (got {n})"),
            "Pass how many requests to count, e.g. tenant_record_api_request() for one.",
        ));
    }
    let tenant = current::tenant()?.ok_or_else(|| {
        error::refusal(
            error::Refusal::NoTenant,
            "tenant_record_api_request: no tenant in context (app.current_tenant is not set)",
            "Set the tenant for the transaction first: SELECT tenant_set('<tenant id or slug>');",
        )
    })?;
    identity::as_registry_owner(|| {
        let count = spi::execute_one::<i64>(
            &format!(
                "INSERT INTO tenant.usage AS u (tenant_id, month, api_requests) VALUES ($1, {THIS_MONTH}, $2)
                 ON CONFLICT (tenant_id, month) DO UPDATE SET api_requests = u.api_requests + EXCLUDED.api_requests
                 RETURNING u.api_requests"
            ),
            &[tenant.into(), i64::from(n).into()],
        )?
        .unwrap_or(0);
        refuse_past(tenant, Quota::ApiRequestsPerMonth, None, count, |l| {
            Ok(l.api_requests.clone())
        })?;
        Ok(count)
    })
}

/// `tenant_check_api_quota(t)`: whether the tenant may make another API
/// request this month (true when unlimited).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_check_api_quota(t: Option<&str>) -> Result<bool> {
    let tenant = authz::authorize_session(t, "tenant_check_api_quota", "reading the API quota")?;
    identity::as_registry_owner(|| {
        let used = spi::one::<i64>(
            &format!("SELECT api_requests FROM tenant.usage WHERE tenant_id = $1 AND month = {THIS_MONTH}"),
            &[tenant.id.into()],
        )?
        .unwrap_or(0);
        let limit = limits::of_tenant(tenant.id)?.map(|l| l.api_requests.max);
        Ok(limit.flatten().is_none_or(|max| used < max))
    })
}
