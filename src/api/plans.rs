//! The default plans (free, pro, enterprise): installed by CREATE
//! EXTENSION, and replaced by a restored dump's copies (`_tenant_plans_restore`).

use crate::error;
use crate::store::spi;
use pgrx::prelude::*;

/// The plans CREATE EXTENSION installs: (id, name, max_members,
/// max_storage_bytes, max_api_requests_per_month). Operators may edit them.
type DefaultPlan = (
    &'static str,
    &'static str,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

const DEFAULT_PLANS: [DefaultPlan; 3] = [
    (
        "free",
        "Free",
        Some(3),
        Some(100 * 1024 * 1024),
        Some(10_000),
    ),
    (
        "pro",
        "Pro",
        Some(25),
        Some(10 * 1024 * 1024 * 1024),
        Some(1_000_000),
    ),
    ("enterprise", "Enterprise", None, None, None),
];

const INSERT_PLAN_SQL: &str = "INSERT INTO tenant.plans (id, name, max_members, max_storage_bytes, max_api_requests_per_month) VALUES ($1, $2, $3, $4, $5)";

/// `_tenant_plans_install()`: inserts the default plans (sql/finalize.sql).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _tenant_plans_install() -> error::Result<()> {
    for (id, name, members, storage, api) in DEFAULT_PLANS {
        spi::execute(
            INSERT_PLAN_SQL,
            &[
                id.into(),
                name.into(),
                members.into(),
                storage.into(),
                api.into(),
            ],
        )?;
    }
    Ok(())
}

// BEFORE INSERT trigger on tenant.plans: a plan inserted under the id of a
// default plan that is still exactly as installed replaces it. Restoring a
// pg_dump runs CREATE EXTENSION (which installs the defaults) and then
// copies the dumped plans, edited defaults included: without this, that copy
// would fail on the duplicate ids. A default that was edited here is not
// replaced (the insert fails as a duplicate, as it should).
crate::trigger_function!(
    _tenant_plans_restore,
    pg_finfo__tenant_plans_restore,
    plans_restore
);

fn plans_restore<'a>(
    trigger: &'a PgTrigger<'a>,
) -> error::Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>> {
    let replaced = replace_installed_default(trigger)?;
    Ok(if replaced { None } else { trigger.new() })
}

fn replace_installed_default(trigger: &PgTrigger) -> error::Result<bool> {
    let Some(new) = trigger.new() else {
        return Ok(false);
    };
    let field = |name: &str| new.get_by_name::<i64>(name).ok().flatten();
    let Some(id) = new.get_by_name::<String>("id").ok().flatten() else {
        return Ok(false);
    };
    let Some((_, default_name, members, storage, api)) =
        DEFAULT_PLANS.iter().find(|plan| plan.0 == id)
    else {
        return Ok(false);
    };
    let name = new.get_by_name::<String>("name").ok().flatten();
    // The restored plan keeps its own creation time, like every other row.
    let created_at = new
        .get_by_name::<pgrx::datum::TimestampWithTimeZone>("created_at")
        .ok()
        .flatten();
    // Its governors too (a dump of a release without them has none).
    let governors = new
        .get_by_name::<pgrx::JsonB>("governors")
        .ok()
        .flatten()
        .unwrap_or(pgrx::JsonB(serde_json::json!({})));
    let replaced = spi::execute_one::<bool>(
        "UPDATE tenant.plans SET name = $2, max_members = $3, max_storage_bytes = $4,
                max_api_requests_per_month = $5, created_at = coalesce($10, created_at),
                governors = $11
          WHERE id = $1
            AND (name, max_members, max_storage_bytes, max_api_requests_per_month, governors)
                IS NOT DISTINCT FROM ($6::text, $7::bigint, $8::bigint, $9::bigint, '{}'::jsonb)
         RETURNING true",
        &[
            id.as_str().into(),
            name.into(),
            field("max_members").into(),
            field("max_storage_bytes").into(),
            field("max_api_requests_per_month").into(),
            (*default_name).into(),
            (*members).into(),
            (*storage).into(),
            (*api).into(),
            created_at.into(),
            governors.into(),
        ],
    )?;
    Ok(replaced.unwrap_or(false))
}
