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

mod accept;
mod data;
mod hygiene;
mod leaks;
mod probe;
mod server;
mod tables;

use crate::error::{self, Result};
use crate::names::TENANT_COLUMN;
use crate::store::{identity, spi};
use crate::tables::state::TableState;
use pgrx::datum::DatumWithOid;
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

/// Runs a query whose $1 is the tenant column's name and maps every row (all
/// text columns) with `f`.
pub fn rows<F>(sql: &str, columns: usize, f: F) -> Result<Vec<Finding>>
where
    F: FnMut(&[Option<String>]) -> Finding,
{
    rows_with(sql, &[TENANT_COLUMN.into()], columns, f)
}

/// `rows` with any parameters.
pub fn rows_with<F>(
    sql: &str,
    args: &[DatumWithOid],
    columns: usize,
    mut f: F,
) -> Result<Vec<Finding>>
where
    F: FnMut(&[Option<String>]) -> Finding,
{
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(sql, None, args)? {
            let values: Vec<Option<String>> = (1..=columns)
                .map(|i| row.get::<String>(i))
                .collect::<std::result::Result<_, _>>()?;
            out.push(f(&values));
        }
        Ok(out)
    })
    .map_err(error::internal)
}

pub fn text(values: &[Option<String>], i: usize) -> String {
    values.get(i).cloned().flatten().unwrap_or_default()
}

pub fn flag(values: &[Option<String>], i: usize) -> bool {
    values.get(i).cloned().flatten().as_deref() == Some("true")
}

/// Runs every check; with `probe_role`, also the active probe.
pub fn run(probe_role: Option<&str>) -> Result<Vec<Finding>> {
    identity::for_catalog_scans(|| run_checks(probe_role))
}

fn run_checks(probe_role: Option<&str>) -> Result<Vec<Finding>> {
    let registered = tables::registered_tables()?;
    let states = TableState::read_many(&registered.iter().map(|r| r.0).collect::<Vec<_>>())?;
    let mut findings = tables::check_registry()?;
    findings.extend(tables::check_tenant_tables(&registered, &states)?);
    findings.extend(leaks::check_all(&states)?);
    findings.extend(hygiene::check_all()?);
    findings.extend(server::check_all()?);
    findings.extend(data::check_all(&registered)?);
    if let Some(role) = probe_role {
        findings.extend(probe::run(role, &states)?);
    }
    Ok(findings)
}

/// Every finding, the acceptances' warnings among them, with the
/// acceptance of each (by index into the acceptances).
pub struct Report {
    pub findings: Vec<Finding>,
    pub acceptances: Vec<accept::Acceptance>,
}

impl Report {
    pub fn build(probe_role: Option<&str>) -> Result<Self> {
        let mut findings = run(probe_role)?;
        let acceptances = accept::all()?;
        findings.extend(accept::stale(&findings, &acceptances)?);
        Ok(Report {
            findings,
            acceptances,
        })
    }

    pub fn accepted(&self, finding: &Finding) -> Option<&accept::Acceptance> {
        accept::of(finding, &self.acceptances)
    }

    /// Failing findings that are not accepted.
    pub fn new_failures(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.status == Status::Fail && self.accepted(f).is_none())
            .collect()
    }

    fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }
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
            name!(accepted, Option<String>),
        ),
    >,
> {
    let report = Report::build(probe_role)?;
    let rows: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            (
                Some(f.check.to_string()),
                Some(f.object.clone()),
                Some(f.status.as_str().to_string()),
                Some(f.detail.clone()),
                f.fix.clone(),
                report.accepted(f).map(|a| a.reason.clone()),
            )
        })
        .collect();
    Ok(TableIterator::new(rows))
}

/// `tenant_check_json(probe_role)`: the whole report as one jsonb document
/// for CI: the server, a summary (counts by status, accepted findings, new
/// failures, `passed`) and every finding with its acceptance.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_check_json(probe_role: default!(Option<&str>, "NULL")) -> Result<pgrx::JsonB> {
    let report = Report::build(probe_role)?;
    let about = spi::one::<pgrx::JsonB>(
        "SELECT pg_catalog.jsonb_build_object(
                  'database', pg_catalog.current_database(),
                  'server_version', pg_catalog.current_setting('server_version'),
                  'pg_tenant', (SELECT extversion FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_tenant'),
                  'checked_at', pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
        &[],
    )?
    .map(|j| j.0)
    .unwrap_or_default();
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "check": f.check,
                "object": f.object,
                "status": f.status.as_str(),
                "detail": f.detail,
                "fix": f.fix,
                "accepted": report.accepted(f).map(|a| serde_json::json!({
                    "reason": a.reason, "by": a.by, "at": a.at
                })),
            })
        })
        .collect();
    let new_failures = report.new_failures().len();
    let accepted = report
        .findings
        .iter()
        .filter(|f| report.accepted(f).is_some())
        .count();
    let mut document = serde_json::json!({
        "passed": new_failures == 0,
        "summary": {
            "findings": report.findings.len(),
            "ok": report.count(Status::Ok),
            "warn": report.count(Status::Warn),
            "fail": report.count(Status::Fail),
            "accepted": accepted,
            "new_failures": new_failures,
        },
        "findings": findings,
    });
    if let (Some(doc), serde_json::Value::Object(about)) = (document.as_object_mut(), about) {
        for (key, value) in about {
            doc.insert(key, value);
        }
    }
    Ok(pgrx::JsonB(document))
}

/// `tenant_assert_check(probe_role)`: raises 23514 listing every failing
/// finding that is not accepted; otherwise returns a one-line summary. For
/// CI and migrations.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_assert_check(probe_role: default!(Option<&str>, "NULL")) -> Result<String> {
    let report = Report::build(probe_role)?;
    let failing = report.new_failures();
    let warnings = report.count(Status::Warn);
    let accepted = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail && report.accepted(f).is_some())
        .count();
    if failing.is_empty() {
        return Ok(format!(
            "pg_tenant: {} checks passed, {} warnings, 0 failures{}",
            report.count(Status::Ok),
            warnings,
            if accepted > 0 {
                format!(" ({accepted} accepted)")
            } else {
                String::new()
            }
        ));
    }
    let detail: Vec<String> = failing
        .iter()
        .map(|f| format!("{} {}: {}", f.check, f.object, f.detail))
        .collect();
    Err(error::report(
        PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
        format!("tenant_check found {} failing check(s)", failing.len()),
        "Run SELECT * FROM tenant_check() WHERE status = 'fail' to see the fix for each; an operator may accept a known one with tenant_check_accept(check, object, reason).",
    )
    .set_detail(detail.join("\n")))
}
