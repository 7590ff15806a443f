//! Effective limits: the tenant's override when it has one, else its plan's;
//! NULL means unlimited. Read by the counting triggers on every write that
//! grows usage, so they are cached per session and forgotten when the
//! registry epoch moves on (tenant.tenants, tenant.plans and the row-limit
//! tables have statement triggers that move it in every session).

use super::tenants::{self, TenantRecord};
use crate::error;
use crate::session::cache::SessionCache;
use crate::store::{identity, lookup, spi};
use pgrx::prelude::*;
use pgrx::Uuid;
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
    // All forgotten when the registry epoch moves on.
    static TENANT_LIMITS: RefCell<SessionCache<[u8; 16], Rc<TenantLimits>>> = RefCell::new(SessionCache::following_registry());
    static ROW_LIMITS: RefCell<SessionCache<RowKey, Limit>> = RefCell::new(SessionCache::following_registry());
    /// A plan's member, storage and API request limits, and its row limit
    /// per table: read once per plan (not once per tenant on it).
    static PLAN_LIMITS: RefCell<SessionCache<String, [Option<i64>; 3]>> = RefCell::new(SessionCache::following_registry());
    static PLAN_ROW_LIMITS: RefCell<SessionCache<(String, u32), Option<i64>>> = RefCell::new(SessionCache::following_registry());
    /// Whether tenant.row_limits holds any override: most databases hold
    /// none, and then a tenant met for the first time needs no lookup there.
    static ANY_ROW_OVERRIDE: RefCell<SessionCache<(), bool>> = RefCell::new(SessionCache::following_registry());
}

/// The limits of `tenant`, None when it does not exist: from the tenant's
/// record (`tenants::record`, shared with the status check) and its plan's
/// limits, each read once per session.
pub fn of_tenant(tenant: Uuid) -> error::Result<Option<Rc<TenantLimits>>> {
    let key = *tenant.as_bytes();
    let read_at = TENANT_LIMITS.with(|cache| cache.borrow().epoch_now());
    if let Some(hit) = TENANT_LIMITS.with(|cache| cache.borrow().get(&key).cloned()) {
        return Ok(Some(hit));
    }
    let Some(record) = tenants::record(tenant)? else {
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
    TENANT_LIMITS.with(|cache| {
        cache
            .borrow_mut()
            .insert_read_at(key, limits.clone(), read_at)
    });
    Ok(Some(limits))
}

/// A plan's member, storage and API request limits (all None when the plan
/// does not exist, which its foreign key prevents).
fn plan_limits(plan: &str) -> error::Result<[Option<i64>; 3]> {
    let read_at = PLAN_LIMITS.with(|cache| cache.borrow().epoch_now());
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
    PLAN_LIMITS.with(|cache| {
        cache
            .borrow_mut()
            .insert_read_at(plan.to_string(), limits, read_at)
    });
    Ok(limits)
}

/// The row limit of `tenant` in table `relid`: its own (tenant.row_limits),
/// else that of its plan (tenant.plan_row_limits). The plan is read here
/// (the tenant's record, usually cached), within the same epoch as the
/// limits, not taken from the caller: a record the caller read before a
/// registry change must not end up remembered under the new epoch.
pub fn rows_of(tenant: Uuid, relid: pg_sys::Oid) -> error::Result<Limit> {
    let key = (*tenant.as_bytes(), relid.to_u32());
    let read_at = ROW_LIMITS.with(|cache| cache.borrow().epoch_now());
    if let Some(hit) = ROW_LIMITS.with(|cache| cache.borrow().get(&key).cloned()) {
        return Ok(hit);
    }
    let record = tenants::record(tenant)?;
    let plan = record.as_ref().and_then(|record| record.plan.as_deref());
    let own = if any_row_override()? {
        let own_key = [lookup::uuid_key(&key.0), pg_sys::Datum::from(relid)];
        lookup::by_primary_key(c"row_limits", &own_key, max_rows)?.flatten()
    } else {
        None
    };
    let from_plan = match (own, plan) {
        (None, Some(plan)) => plan_row_limit(plan, relid)?,
        _ => None,
    };
    let limit = Limit::effective(own, from_plan, plan);
    ROW_LIMITS.with(|cache| {
        cache
            .borrow_mut()
            .insert_read_at(key, limit.clone(), read_at)
    });
    Ok(limit)
}

/// Whether any tenant has a row limit of its own (tenant.row_limits), read
/// once per registry epoch: its statement trigger moves the epoch on.
fn any_row_override() -> error::Result<bool> {
    let read_at = ANY_ROW_OVERRIDE.with(|cache| cache.borrow().epoch_now());
    if let Some(hit) = ANY_ROW_OVERRIDE.with(|cache| cache.borrow().get(&()).copied()) {
        return Ok(hit);
    }
    let any = lookup::has_rows(c"row_limits")?;
    ANY_ROW_OVERRIDE.with(|cache| cache.borrow_mut().insert_read_at((), any, read_at));
    Ok(any)
}

/// A plan's row limit in table `relid` (None: unlimited).
fn plan_row_limit(plan: &str, relid: pg_sys::Oid) -> error::Result<Option<i64>> {
    let key = (plan.to_string(), relid.to_u32());
    let read_at = PLAN_ROW_LIMITS.with(|cache| cache.borrow().epoch_now());
    if let Some(hit) = PLAN_ROW_LIMITS.with(|cache| cache.borrow().get(&key).copied()) {
        return Ok(hit);
    }
    let plan_key = plan.into_datum().expect("a text datum is never NULL");
    let lookup_key = [plan_key, pg_sys::Datum::from(relid)];
    let limit = lookup::by_primary_key(c"plan_row_limits", &lookup_key, max_rows)?.flatten();
    PLAN_ROW_LIMITS.with(|cache| cache.borrow_mut().insert_read_at(key, limit, read_at));
    Ok(limit)
}

fn max_rows(row: &lookup::Row) -> error::Result<Option<i64>> {
    row.bigint(c"max_rows")
}

/// A plan name must name a row of tenant.plans (P0002 otherwise, listing them).
pub fn require_plan(plan: &str, function: &str) -> error::Result<()> {
    let known = identity::as_registry_owner(|| {
        spi::two::<bool, String>(
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
        super::rows_of(tenant, relid).unwrap().max
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
        assert_eq!(
            Spi::get_one::<Uuid>("SELECT current_tenant_id()").unwrap(),
            Some(first)
        );
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

    #[pg_test]
    fn a_tenant_override_reaches_a_session_that_knew_of_none() {
        let (first, second, relid) = setup();
        // No tenant has an override: remembered, and the plan's limit holds.
        assert_eq!(rows(first, relid), Some(10));
        assert!(!super::any_row_override().unwrap());
        Spi::run("SELECT tenant_quota_set('cached-second', 'cached_notes', 3)").unwrap();
        // The override reaches the tenant it names, met after it was set,
        // and leaves the other on its plan's limit.
        assert!(super::any_row_override().unwrap());
        assert_eq!(rows(second, relid), Some(3));
        assert_eq!(rows(first, relid), Some(10));
        // Removed again (NULL: the plan's limit), the tenant is back on it.
        Spi::run("SELECT tenant_quota_set('cached-second', 'cached_notes', NULL)").unwrap();
        assert!(!super::any_row_override().unwrap());
        assert_eq!(rows(second, relid), Some(10));
    }
}
