//! Effective limits: the tenant's override when it has one, else its plan's;
//! NULL means unlimited. Read by the counting triggers on every write that
//! grows usage, so they are cached per session and forgotten whenever
//! tenant.tenants, tenant.plans or a row-limit table changes (their statement
//! triggers send the registry invalidation every session listens to).
//!
//! Also the operator functions that set plans and limits.

use super::{refuse_negative, Quota};
use crate::cache::SessionCache;
use crate::db;
use crate::error;
use crate::lookup;
use crate::registry::{self, Tenant, TenantRecord};
use pgrx::prelude::*;
use pgrx::spi::{quote_literal, quote_qualified_identifier};
use pgrx::{PgRelation, Uuid};
use std::cell::RefCell;
use std::rc::Rc;

/// One effective limit and where it comes from (for error messages).
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub max: Option<i64>,
    /// Shared with the cache: a check clones a Limit on every write.
    pub source: Rc<str>,
}

impl Limit {
    /// The tenant's override if set, else the plan's value.
    fn effective(own: Option<i64>, from_plan: Option<i64>, plan: Option<&str>) -> Limit {
        match (own, plan) {
            (Some(max), _) => Limit {
                max: Some(max),
                source: "the tenant's own limit".into(),
            },
            (None, Some(plan)) => Limit {
                max: from_plan,
                source: format!("plan \"{plan}\"").into(),
            },
            (None, None) => Limit {
                max: None,
                source: "no plan".into(),
            },
        }
    }

    /// Whether reaching `usage` passes the limit.
    pub fn exceeded_by(&self, usage: i64) -> bool {
        self.max.is_some_and(|max| usage > max)
    }
}

/// A tenant's scalar limits, with its record (slug for messages, plan for
/// its row limits).
pub struct TenantLimits {
    pub record: Rc<TenantRecord>,
    pub members: Limit,
    pub storage_bytes: Limit,
    pub api_requests: Limit,
}

type RowKey = ([u8; 16], u32);

thread_local! {
    static TENANT_LIMITS: RefCell<SessionCache<[u8; 16], Rc<TenantLimits>>> = RefCell::new(SessionCache::new());
    static ROW_LIMITS: RefCell<SessionCache<RowKey, Limit>> = RefCell::new(SessionCache::new());
    /// A plan's member, storage and API request limits, and its row limit
    /// per table: read once per plan (not once per tenant on it).
    static PLAN_LIMITS: RefCell<SessionCache<String, [Option<i64>; 3]>> = RefCell::new(SessionCache::new());
    static PLAN_ROW_LIMITS: RefCell<SessionCache<(String, u32), Option<i64>>> = RefCell::new(SessionCache::new());
}

/// Forgets every cached limit (called with the other registry caches).
pub fn forget() {
    TENANT_LIMITS.with(|cache| cache.borrow_mut().clear());
    ROW_LIMITS.with(|cache| cache.borrow_mut().clear());
    PLAN_LIMITS.with(|cache| cache.borrow_mut().clear());
    PLAN_ROW_LIMITS.with(|cache| cache.borrow_mut().clear());
}

/// The limits of `tenant`, None when it does not exist: from the tenant's
/// record (`registry::record`, shared with the status check) and its plan's
/// limits, each read once per session.
pub fn of_tenant(tenant: Uuid) -> error::Result<Option<Rc<TenantLimits>>> {
    let key = *tenant.as_bytes();
    if let Some(hit) = TENANT_LIMITS.with(|cache| cache.borrow().get(&key).cloned()) {
        return Ok(Some(hit));
    }
    let Some(record) = registry::record(tenant)? else {
        return Ok(None);
    };
    let plan = record.plan.as_deref();
    let from_plan = match plan {
        Some(plan) => plan_limits(plan)?,
        None => [None; 3],
    };
    let [members, storage_bytes, api_requests] = record.own_limits;
    let limit = |own, from_plan| Limit::effective(own, from_plan, plan);
    let limits = Rc::new(TenantLimits {
        members: limit(members, from_plan[0]),
        storage_bytes: limit(storage_bytes, from_plan[1]),
        api_requests: limit(api_requests, from_plan[2]),
        record,
    });
    TENANT_LIMITS.with(|cache| cache.borrow_mut().insert(key, limits.clone()));
    Ok(Some(limits))
}

/// A plan's member, storage and API request limits (all None when the plan
/// does not exist, which its foreign key prevents).
fn plan_limits(plan: &str) -> error::Result<[Option<i64>; 3]> {
    if let Some(hit) = PLAN_LIMITS.with(|cache| cache.borrow().get(plan).copied()) {
        return Ok(hit);
    }
    let id = plan.into_datum().expect("a text datum is never NULL");
    let row = lookup::by_primary_key(c"plans", &[id], |row| {
        Ok([
            row.bigint(c"max_members")?,
            row.bigint(c"max_storage_bytes")?,
            row.bigint(c"max_api_requests_per_month")?,
        ])
    })?;
    let limits = row.unwrap_or([None; 3]);
    PLAN_LIMITS.with(|cache| cache.borrow_mut().insert(plan.to_string(), limits));
    Ok(limits)
}

/// The row limit of `tenant` in table `relid`: its own (tenant.row_limits),
/// else that of its `plan` (tenant.plan_row_limits).
pub fn rows_of(tenant: Uuid, relid: pg_sys::Oid, plan: Option<&str>) -> error::Result<Limit> {
    let key = (*tenant.as_bytes(), relid.to_u32());
    if let Some(hit) = ROW_LIMITS.with(|cache| cache.borrow().get(&key).cloned()) {
        return Ok(hit);
    }
    let own_key = [lookup::uuid_key(&key.0), pg_sys::Datum::from(relid)];
    let own = lookup::by_primary_key(c"row_limits", &own_key, max_rows)?.flatten();
    let from_plan = match (own, plan) {
        (None, Some(plan)) => plan_row_limit(plan, relid)?,
        _ => None,
    };
    let limit = Limit::effective(own, from_plan, plan);
    ROW_LIMITS.with(|cache| cache.borrow_mut().insert(key, limit.clone()));
    Ok(limit)
}

/// A plan's row limit in table `relid` (None: unlimited).
fn plan_row_limit(plan: &str, relid: pg_sys::Oid) -> error::Result<Option<i64>> {
    let key = (plan.to_string(), relid.to_u32());
    if let Some(hit) = PLAN_ROW_LIMITS.with(|cache| cache.borrow().get(&key).copied()) {
        return Ok(hit);
    }
    let plan_key = plan.into_datum().expect("a text datum is never NULL");
    let lookup_key = [plan_key, pg_sys::Datum::from(relid)];
    let limit = lookup::by_primary_key(c"plan_row_limits", &lookup_key, max_rows)?.flatten();
    PLAN_ROW_LIMITS.with(|cache| cache.borrow_mut().insert(key, limit));
    Ok(limit)
}

fn max_rows(row: &lookup::Row) -> error::Result<Option<i64>> {
    row.bigint(c"max_rows")
}

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
        db::execute(
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
    let replaced = db::execute_one::<bool>(
        "UPDATE tenant.plans SET name = $2, max_members = $3, max_storage_bytes = $4,
                max_api_requests_per_month = $5
          WHERE id = $1
            AND (name, max_members, max_storage_bytes, max_api_requests_per_month)
                IS NOT DISTINCT FROM ($6::text, $7::bigint, $8::bigint, $9::bigint)
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
        ],
    )?;
    Ok(replaced.unwrap_or(false))
}

/// A plan name must name a row of tenant.plans (P0002 otherwise, listing them).
pub fn require_plan(plan: &str, function: &str) -> error::Result<()> {
    let known = db::as_registry_owner(|| {
        db::two::<bool, String>(
            "SELECT EXISTS (SELECT FROM tenant.plans WHERE id = $1),
                    (SELECT string_agg(id, ', ' ORDER BY id) FROM tenant.plans)",
            &[plan.into()],
        )
    })?;
    let (exists, all) = known.unwrap_or((None, None));
    if exists == Some(true) {
        return Ok(());
    }
    Err(error::report(
        PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
        format!("{function}: plan \"{plan}\" does not exist"),
        format!(
            "Pass one of: {} (see tenant.plans), or create the plan first: INSERT INTO tenant.plans (id, name) VALUES ('{plan}', '...');",
            all.unwrap_or_default()
        ),
    ))
}

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
    let tracked = db::as_registry_owner(|| {
        db::one::<bool>(
            "SELECT track_usage FROM tenant.tables WHERE relid = $1::regclass",
            &[oid.into()],
        )
    })?;
    match tracked {
        Some(true) => Ok((oid, name)),
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
    let tenant = registry::find(t, "tenant_plan_set")?;
    if let Some(plan) = plan {
        require_plan(plan, "tenant_plan_set")?;
    }
    db::as_registry_owner(|| {
        db::execute(
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
    let tenant = registry::find(t, "tenant_limit_set")?;
    set_tenant_column(&tenant, quota, max)
}

fn set_tenant_column(tenant: &Tenant, quota: Quota, max: Option<i64>) -> error::Result<()> {
    // The column name comes from a fixed list (Quota::column), never from input.
    let sql = format!(
        "UPDATE tenant.tenants SET {} = $2, updated_at = now() WHERE id = $1",
        quota.column()
    );
    db::as_registry_owner(|| db::execute(&sql, &[tenant.id.into(), max.into()]))
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
    let tenant = registry::find(t, "tenant_quota_set")?;
    let (relid, _) = require_counted_table(tbl, "tenant_quota_set")?;
    db::as_registry_owner(|| {
        match max_rows {
        None => db::execute(
            "DELETE FROM tenant.row_limits WHERE tenant_id = $1 AND relid = $2::regclass",
            &[tenant.id.into(), relid.into()],
        ),
        Some(max) => db::execute(
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
    require_plan(plan, "tenant_plan_limit_set")?;
    let sql = format!(
        "UPDATE tenant.plans SET {} = $2 WHERE id = $1",
        quota.column()
    );
    db::as_registry_owner(|| db::execute(&sql, &[plan.into(), max.into()]))
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
    require_plan(plan, "tenant_plan_quota_set")?;
    let (relid, _) = require_counted_table(tbl, "tenant_plan_quota_set")?;
    db::as_registry_owner(|| {
        match max_rows {
        None => db::execute(
            "DELETE FROM tenant.plan_row_limits WHERE plan_id = $1 AND relid = $2::regclass",
            &[plan.into(), relid.into()],
        ),
        Some(max) => db::execute(
            "INSERT INTO tenant.plan_row_limits (plan_id, relid, max_rows) VALUES ($1, $2::regclass, $3)
             ON CONFLICT (plan_id, relid) DO UPDATE SET max_rows = EXCLUDED.max_rows",
            &[plan.into(), relid.into(), max.into()],
        ),
    }
    })
}

#[cfg(test)]
mod unit_tests {
    use super::Limit;

    #[test]
    fn the_tenant_override_wins_over_the_plan() {
        let own = Limit::effective(Some(5), Some(100), Some("pro"));
        assert_eq!(own.max, Some(5));
        let plan = Limit::effective(None, Some(100), Some("pro"));
        assert_eq!((plan.max, &*plan.source), (Some(100), "plan \"pro\""));
        assert_eq!(Limit::effective(None, None, Some("enterprise")).max, None);
        assert_eq!(Limit::effective(None, Some(3), None).max, None);
    }

    #[test]
    fn a_limit_is_exceeded_only_above_it() {
        let limit = Limit::effective(Some(10), None, None);
        assert!(!limit.exceeded_by(10));
        assert!(limit.exceeded_by(11));
        assert!(!Limit::effective(None, None, None).exceeded_by(i64::MAX));
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;
    use pgrx::Uuid;

    fn setup() -> (Uuid, Uuid, pg_sys::Oid) {
        Spi::run(
            "CREATE TABLE cached_notes (id bigserial PRIMARY KEY, tenant_id uuid);
             SELECT tenant_enable('cached_notes');
             INSERT INTO tenant.plans (id, name, max_members) VALUES ('cached', 'Cached', 5);
             SELECT tenant_plan_quota_set('cached', 'cached_notes', 10);",
        )
        .unwrap();
        let create = |slug: &str| {
            Spi::get_one_with_args::<Uuid>("SELECT tenant_create($1, $1, 'cached')", &[slug.into()])
                .unwrap()
                .unwrap()
        };
        let relid = Spi::get_one::<pg_sys::Oid>("SELECT 'cached_notes'::regclass::oid")
            .unwrap()
            .unwrap();
        (create("cached-first"), create("cached-second"), relid)
    }

    fn members(tenant: Uuid) -> Option<i64> {
        super::of_tenant(tenant).unwrap().unwrap().members.max
    }

    fn rows(tenant: Uuid, relid: pg_sys::Oid) -> Option<i64> {
        super::rows_of(tenant, relid, Some("cached")).unwrap().max
    }

    #[pg_test]
    fn a_plan_change_reaches_tenants_met_before_and_after() {
        let (first, second, relid) = setup();
        // The plan's limits are now cached (read for the first tenant).
        assert_eq!((members(first), rows(first, relid)), (Some(5), Some(10)));
        Spi::run(
            "SELECT tenant_plan_limit_set('cached', 'members', 7);
             SELECT tenant_plan_quota_set('cached', 'cached_notes', 20);",
        )
        .unwrap();
        // A tenant met after the change, on the same plan, and the one met
        // before: both see the new limits.
        assert_eq!((members(second), rows(second, relid)), (Some(7), Some(20)));
        assert_eq!((members(first), rows(first, relid)), (Some(7), Some(20)));
    }

    #[pg_test]
    fn the_status_check_and_the_limits_share_one_read_of_the_tenant() {
        let (first, _, _) = setup();
        Spi::run_with_args(
            "SELECT set_config('app.current_tenant', $1::text, true)",
            &[first.into()],
        )
        .unwrap();
        assert_eq!(crate::context::current_tenant().unwrap(), Some(first));
        // Change the row behind pg_tenant's back (no trigger, so no
        // invalidation): the limits come from the record the status check
        // cached, not from a second read.
        Spi::run("SET LOCAL session_replication_role = replica").unwrap();
        Spi::run_with_args(
            "UPDATE tenant.tenants SET max_members = 99 WHERE id = $1",
            &[first.into()],
        )
        .unwrap();
        Spi::run("SET LOCAL session_replication_role = origin").unwrap();
        assert_eq!(members(first), Some(5));
        // Any registry change through pg_tenant forgets the record.
        Spi::run("SELECT tenant_plan_limit_set('cached', 'members', 6)").unwrap();
        assert_eq!(members(first), Some(99));
    }
}
