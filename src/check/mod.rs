//! `tenant_check()`: a doctor inside the database. Each check looks for one
//! known way RLS multi-tenancy leaks and reports a row per finding with the
//! SQL that would repair it:
//!
//! - `tables`: the registry itself and every tenant-scoped table, aspect by
//!   aspect (the same planners `tenant_enable` uses, so a fix is exactly what
//!   `tenant_enable` would run);
//! - `leaks`: forgotten tables, partitions and other inheritance relatives
//!   without isolation, widening policies, per-row function calls, unique
//!   keys, exclusion constraints and foreign keys without tenant_id, views,
//!   SECURITY DEFINER functions, login roles, TRUNCATE/REFERENCES grants,
//!   serial columns;
//! - `data`: the registry's rows agree with one another and with the
//!   tenant-scoped tables (references, tenants of rows, usage counters);
//! - `probe`: an active test as a given role, always rolled back.

mod data;
mod leaks;
mod node_tree;
mod probe;
mod tables;

use crate::error::{self, Result};
use crate::tables::state::TableState;
use pgrx::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

pub struct Finding {
    pub check: &'static str,
    pub object: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(
        check: &'static str,
        object: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) -> Self {
        Finding {
            check,
            object: object.into(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fix(mut self, statements: &[String]) -> Self {
        if !statements.is_empty() {
            self.fix = Some(
                statements
                    .iter()
                    // Comments (advice without a safe statement) take no semicolon.
                    .map(|s| {
                        if s.starts_with("--") {
                            s.clone()
                        } else {
                            format!("{s};")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        self
    }
}

/// An "ok" row for a check that found nothing anywhere, so that every check
/// shows up in the report.
pub fn ok_when_empty(check: &'static str, findings: &mut Vec<Finding>, detail: &str) {
    if !findings.iter().any(|f| f.check == check) {
        findings.push(Finding::new(check, "*", Status::Ok, detail));
    }
}

/// Runs every check; with `probe_role`, also the active probe.
pub fn run(probe_role: Option<&str>) -> Result<Vec<Finding>> {
    let registered = tables::registered_tables()?;
    let states = TableState::read_many(&registered.iter().map(|r| r.0).collect::<Vec<_>>())?;
    let mut findings = tables::check_registry()?;
    findings.extend(tables::check_tenant_tables(&registered, &states)?);
    findings.extend(leaks::check_all(&states)?);
    findings.extend(data::check_all(&registered)?);
    if let Some(role) = probe_role {
        findings.extend(probe::run(role, &states)?);
    }
    Ok(findings)
}

/// The rows of `tenant_check()`. The SQL function `tenant_check(probe_role
/// name)` in sql/finalize.sql only renames this one's output (a column named
/// `check`, a reserved word pgrx does not quote) and casts its argument.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _tenant_check(
    probe_role: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(check_name, Option<String>),
            name!(object, Option<String>),
            name!(status, Option<String>),
            name!(detail, Option<String>),
            name!(fix, Option<String>),
        ),
    >,
> {
    let rows = run(probe_role)?.into_iter().map(|f| {
        (
            Some(f.check.to_string()),
            Some(f.object),
            Some(f.status.as_str().to_string()),
            Some(f.detail),
            f.fix,
        )
    });
    Ok(TableIterator::new(rows.collect::<Vec<_>>()))
}

/// `tenant_assert_check(probe_role)`: raises 23514 listing every failing
/// finding; otherwise returns a one-line summary. For CI and migrations.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_assert_check(probe_role: default!(Option<&str>, "NULL")) -> Result<String> {
    let findings = run(probe_role)?;
    let failing: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .collect();
    let warnings = findings.iter().filter(|f| f.status == Status::Warn).count();
    if failing.is_empty() {
        return Ok(format!(
            "pg_tenant: {} checks passed, {} warnings, 0 failures",
            findings.len() - warnings,
            warnings
        ));
    }
    let detail: Vec<String> = failing
        .iter()
        .map(|f| format!("{} {}: {}", f.check, f.object, f.detail))
        .collect();
    Err(error::report(
        PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
        format!("tenant_check found {} failing check(s)", failing.len()),
        "Run SELECT * FROM tenant_check() WHERE status = 'fail' to see the fix for each.",
    )
    .set_detail(detail.join("\n")))
}
