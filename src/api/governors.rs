//! Operators' governor functions: a plan's and a tenant's governors, the
//! effective governors of a tenant, and the CHECK that keeps the stored
//! objects valid when operators edit tenant.plans with SQL.

use crate::error;
use crate::registry::governors::{self, Governor, Governors};
use crate::registry::{limits, tenants};
use crate::store::{identity, spi};
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};

/// `tenant_governor_set(t, governor, value)`: the tenant's own value of a
/// governor (`'5s'`, `'64MB'`, `'10'`); NULL goes back to its plan's.
/// Returns the tenant's own governors.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_governor_set(
    t: Option<&str>,
    governor: Option<&str>,
    value: Option<&str>,
) -> error::Result<JsonB> {
    const FUNCTION: &str = "tenant_governor_set";
    let governor = Governor::parse(governor, FUNCTION)?;
    let value = value.map(|v| governor.read(v, FUNCTION)).transpose()?;
    let tenant = tenants::find(t, FUNCTION)?;
    store_governor(
        "tenant.tenants SET updated_at = now(),",
        tenant.id.into(),
        governor,
        value,
        &format!("tenant \"{}\"", tenant.slug),
    )
}

/// `tenant_plan_governor_set(plan, governor, value)`: a plan's value of a
/// governor; NULL removes it. Returns the plan's governors.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_plan_governor_set(
    plan: Option<&str>,
    governor: Option<&str>,
    value: Option<&str>,
) -> error::Result<JsonB> {
    const FUNCTION: &str = "tenant_plan_governor_set";
    let plan = plan.ok_or_else(|| error::null_argument(FUNCTION, "plan"))?;
    let governor = Governor::parse(governor, FUNCTION)?;
    let value = value.map(|v| governor.read(v, FUNCTION)).transpose()?;
    limits::require_plan(plan, FUNCTION)?;
    store_governor(
        "tenant.plans SET",
        plan.into(),
        governor,
        value,
        &format!("plan \"{plan}\""),
    )
}

/// Sets (or, with None, removes) one governor of the row `id` names in
/// `target` ("<table> SET <other assignments,>", fixed text, never input)
/// and returns the row's governors. A row deleted since it was found (by
/// a concurrent tenant_purge, say) is an error, not a success that stored
/// nothing.
fn store_governor(
    target: &str,
    id: pgrx::datum::DatumWithOid,
    governor: Governor,
    value: Option<i64>,
    label: &str,
) -> error::Result<JsonB> {
    let sql = format!(
        "UPDATE {target}
            governors = CASE WHEN $3::bigint IS NULL THEN governors OPERATOR(pg_catalog.-) $2
                             ELSE governors OPERATOR(pg_catalog.||) jsonb_build_object($2, $3::bigint) END
          WHERE id = $1
         RETURNING governors"
    );
    let stored = identity::as_registry_owner(|| {
        spi::execute_one::<JsonB>(&sql, &[id, governor.name().into(), value.into()])
    })?;
    stored.ok_or_else(|| {
        error::report(
            PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
            format!(
                "{label} was deleted while its {} governor was being set; nothing was stored",
                governor.name()
            ),
            "Check that it still exists, then set the governor again.",
        )
    })
}

/// `tenant_governors(t)`: the governors in force for a tenant's
/// transactions, one row per governor set, with where each comes from.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_governors(
    t: Option<&str>,
) -> error::Result<
    TableIterator<
        'static,
        (
            name!(governor, String),
            name!(value, i64),
            name!(unit, String),
            name!(source, String),
        ),
    >,
> {
    let tenant = tenants::find(t, "tenant_governors")?;
    let effective = governors::of_tenant(tenant.id)?;
    let rows = effective
        .map(|e| {
            governors::ALL
                .into_iter()
                .filter_map(|g| {
                    let value = e.governors.get(g)?;
                    let source = if e.from_plan[g as usize] {
                        format!("plan \"{}\"", e.plan.as_deref().unwrap_or(""))
                    } else {
                        "the tenant's own governor".to_string()
                    };
                    Some((g.name().to_string(), value, g.unit().to_string(), source))
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Ok(TableIterator::new(rows))
}

/// `_tenant_governors_valid(governors)`: the CHECK of tenant.plans and
/// tenant.tenants; raises 23514 saying what is wrong.
#[pg_extern(immutable, parallel_restricted)]
fn _tenant_governors_valid(governors: Option<JsonB>) -> error::Result<bool> {
    let Some(JsonB(value)) = governors else {
        return Ok(true);
    };
    Governors::from_json(&value).map(|_| true).map_err(|why| {
        error::report(
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            format!("governors {value} {why}"),
            "Set governors with tenant_governor_set or tenant_plan_governor_set, which read units ('5s', '64MB'); stored values are integers in ms (timeouts), kB (work_mem) or transactions (max_transactions).",
        )
    })
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn a_value_is_read_with_its_unit_and_checked() {
        use crate::registry::governors::Governor;
        assert_eq!(Governor::StatementTimeout.read("5s", "t").unwrap(), 5000);
        assert_eq!(Governor::WorkMem.read("64MB", "t").unwrap(), 65536);
        assert_eq!(Governor::MaxTransactions.read("3", "t").unwrap(), 3);
        assert!(Governor::StatementTimeout.read("0", "t").is_err());
        assert!(Governor::WorkMem.read("10kB", "t").is_err());
        assert!(Governor::MaxTransactions.read("1001", "t").is_err());
        assert!(Governor::LockTimeout.read("soon", "t").is_err());
        assert!(Governor::LockTimeout.read("5 parsecs", "t").is_err());
    }

    #[pg_test]
    fn stored_objects_are_checked() {
        use crate::registry::governors::Governors;
        let ok = serde_json::json!({"statement_timeout": 5000, "max_transactions": 2});
        let g = Governors::from_json(&ok).unwrap();
        assert_eq!(Governors::from_json(&g.to_json()).unwrap(), g);
        for bad in [
            serde_json::json!([]),
            serde_json::json!({"statement_timeout": "5s"}),
            serde_json::json!({"statement_timeout": 0}),
            serde_json::json!({"max_connections": 3}),
            serde_json::json!({"work_mem": 1.5}),
        ] {
            assert!(Governors::from_json(&bad).is_err(), "{bad}");
        }
    }
}
