//! Accepted findings: an operator records, with a reason, that a known
//! `warn` or `fail` finding of `tenant_check` is accepted
//! (`tenant_check_accept`), so that `tenant_assert_check` fails on new
//! findings only. An acceptance is of one finding exactly: its check,
//! object, status and detail; if any of them changes, it is a new finding.
//! The probe's findings (`tenant_check(probe_role)`) cannot be accepted:
//! `tenant_check_accept` runs the static checks only. The acceptances live in `tenant.check_acceptances`
//! (dumped with the database, readable by operators); an acceptance whose
//! finding is gone is reported (`check_acceptance`) until it is removed
//! (`tenant_check_unaccept`).

use super::{Finding, Status};
use crate::error::{self, Result};
use crate::registry::roles;
use crate::store::{identity, spi};
use pgrx::prelude::*;
use pgrx::spi::quote_literal;

/// One row of `tenant.check_acceptances`.
pub struct Acceptance {
    pub check: String,
    pub object: String,
    /// The finding's status and detail when it was accepted.
    pub status: String,
    pub detail: String,
    pub reason: String,
    pub by: String,
    /// ISO 8601, UTC.
    pub at: String,
}

/// Every acceptance, read as the registry owner (the table's policy admits
/// operators only; `tenant_check` is theirs anyway).
pub fn all() -> Result<Vec<Acceptance>> {
    identity::as_registry_owner(|| {
        Spi::connect(|client| {
            let mut out = Vec::new();
            for row in client.select(
                "SELECT check_name, object, status, detail, reason, accepted_by::text,
                        to_char(accepted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                   FROM tenant.check_acceptances ORDER BY check_name, object",
                None,
                &[],
            )? {
                out.push(Acceptance {
                    check: row.get::<String>(1)?.unwrap_or_default(),
                    object: row.get::<String>(2)?.unwrap_or_default(),
                    status: row.get::<String>(3)?.unwrap_or_default(),
                    detail: row.get::<String>(4)?.unwrap_or_default(),
                    reason: row.get::<String>(5)?.unwrap_or_default(),
                    by: row.get::<String>(6)?.unwrap_or_default(),
                    at: row.get::<String>(7)?.unwrap_or_default(),
                });
            }
            Ok(out)
        })
        .map_err(error::internal)
    })
}

/// Whether the acceptance is of exactly this finding: same check and
/// object, and the same status and detail as when it was accepted (a warning
/// that became a failure, or another problem of the same object, is new).
fn accepts(a: &Acceptance, finding: &Finding) -> bool {
    finding.status != Status::Ok
        && a.check == finding.check
        && a.object == finding.object
        && a.status == finding.status.as_str()
        && a.detail == finding.detail
}

/// The acceptance of a finding, if any (ok findings are never accepted).
pub fn of<'a>(finding: &Finding, acceptances: &'a [Acceptance]) -> Option<&'a Acceptance> {
    acceptances.iter().find(|a| accepts(a, finding))
}

/// A `check_acceptance` warning for every acceptance whose finding is not
/// reported any more (fixed, renamed or gone): it would otherwise accept a
/// new finding of the same name unseen.
pub fn stale(findings: &[Finding], acceptances: &[Acceptance]) -> Result<Vec<Finding>> {
    let schema = spi::extension_schema()?;
    Ok(acceptances
        .iter()
        .filter(|a| !findings.iter().any(|f| accepts(a, f)))
        .map(|a| {
            let changed = findings.iter().any(|f| {
                f.status != Status::Ok && f.check == a.check && f.object == a.object
            });
            let now = if changed {
                "but the finding changed since (its status or detail): it is not accepted any more; accept it again or remove the acceptance"
            } else {
                "but tenant_check no longer reports this finding: remove the acceptance"
            };
            Finding::new(
                "check_acceptance",
                format!("{} {}", a.check, a.object),
                Status::Warn,
                format!(
                    "accepted by {} at {} (\"{}\"), {now}",
                    a.by, a.at, a.reason
                ),
            )
            .fix(&[format!(
                "SELECT {schema}.tenant_check_unaccept({}, {})",
                quote_literal(&a.check),
                quote_literal(&a.object)
            )])
        })
        .collect())
}

fn operator_only(function: &str) -> Result<()> {
    if roles::is_operator() {
        return Ok(());
    }
    Err(error::insufficient_privilege(
        format!("{function}: only operators may accept or remove tenant_check findings"),
        "Operators are members of tenant_admin.",
    ))
}

fn required<'a>(value: Option<&'a str>, function: &str, argument: &str) -> Result<&'a str> {
    let value = value.ok_or_else(|| error::null_argument(function, argument))?;
    if value.trim().is_empty() {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("{function}: {argument} must not be empty"),
            if argument == "reason" {
                "Say why the finding is accepted: the reason is what the next reader of the report sees."
            } else {
                "Copy check and object from SELECT \"check\", object FROM tenant_check() WHERE status <> 'ok'."
            },
        ));
    }
    Ok(value)
}

/// `tenant_check_accept(check_name, object, reason)`: accepts a finding that
/// `tenant_check` reports now with status warn or fail, or replaces the
/// reason of an accepted one. Operators only.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_check_accept(
    check_name: Option<&str>,
    object: Option<&str>,
    reason: Option<&str>,
) -> Result<String> {
    const F: &str = "tenant_check_accept";
    let check = required(check_name, F, "check_name")?;
    let object = required(object, F, "object")?;
    let reason = required(reason, F, "reason")?;
    operator_only(F)?;
    let reported = super::run(None)?
        .into_iter()
        .find(|f| f.status != Status::Ok && f.check == check && f.object == object);
    let Some(finding) = reported else {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("{F}: tenant_check reports no warn or fail finding {check} for {object}"),
            "Copy check and object exactly from SELECT \"check\", object FROM tenant_check() WHERE status <> 'ok'.",
        ));
    };
    let by = current_role_name()?;
    identity::as_registry_owner(|| {
        spi::execute(
            "INSERT INTO tenant.check_acceptances (check_name, object, status, detail, reason, accepted_by)
             VALUES ($1, $2, $3, $4, $5, $6::pg_catalog.name)
             ON CONFLICT (check_name, object) DO UPDATE
                SET status = excluded.status, detail = excluded.detail, reason = excluded.reason,
                    accepted_by = excluded.accepted_by, accepted_at = pg_catalog.now()",
            &[
                check.into(),
                object.into(),
                finding.status.as_str().into(),
                finding.detail.as_str().into(),
                reason.into(),
                by.as_str().into(),
            ],
        )
    })?;
    Ok(format!(
        "pg_tenant: accepted {} finding {check} for {object}; tenant_assert_check no longer fails on it",
        finding.status.as_str()
    ))
}

/// `tenant_check_unaccept(check_name, object)`: removes an acceptance;
/// whether there was one. Operators only.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_check_unaccept(check_name: Option<&str>, object: Option<&str>) -> Result<bool> {
    const F: &str = "tenant_check_unaccept";
    let check = required(check_name, F, "check_name")?;
    let object = required(object, F, "object")?;
    operator_only(F)?;
    identity::as_registry_owner(|| {
        Ok(spi::execute_one::<bool>(
            "DELETE FROM tenant.check_acceptances WHERE check_name OPERATOR(pg_catalog.=) $1 AND object OPERATOR(pg_catalog.=) $2 RETURNING true",
            &[check.into(), object.into()],
        )?
        .is_some())
    })
}

/// The role the caller acts as (inside `as_registry_owner`, current_user
/// would be the registry's owner).
fn current_role_name() -> Result<String> {
    // SAFETY: a catalog lookup of the session's current user id.
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false);
        Ok(std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned())
    }
}
