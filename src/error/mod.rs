//! Errors users can act on: every error pg_tenant raises has a fitting SQLSTATE,
//! a message that starts with `pg_tenant:` and names the object, and a hint that
//! names the fix.
//!
//! The refusals an application maps to a response have pg_tenant's own
//! SQLSTATEs (class PT, `sqlstate`).
//!
//! `#[pg_extern]` functions return `Result<T, ErrorReport>`: pgrx raises an
//! `ErrorReport` with its own SQLSTATE (any other error type becomes 22000).

pub mod sqlstate;

pub use sqlstate::{refusal, Refusal};

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::spi::SpiError;
use pgrx::PgSqlErrorCode;

pub type Result<T> = std::result::Result<T, ErrorReport>;

/// Builds an error report with the `pg_tenant:` prefix and a hint.
pub fn report(
    code: PgSqlErrorCode,
    message: impl AsRef<str>,
    hint: impl Into<String>,
) -> ErrorReport {
    ErrorReport::new(
        code,
        format!("pg_tenant: {}", message.as_ref()),
        "pg_tenant",
    )
    .set_hint(hint)
}

/// 22P02: a value that should be a UUID is not one.
pub fn invalid_uuid(what: &str, value: &str, hint: impl Into<String>) -> ErrorReport {
    report(
        PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        format!(
            "{what} is set to \"{}\", which is not a UUID",
            shorten(value)
        ),
        hint,
    )
}

/// 42501: the session may not act as it asked.
pub fn insufficient_privilege(message: impl AsRef<str>, hint: impl Into<String>) -> ErrorReport {
    report(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        message,
        hint,
    )
}

/// 22023: an argument has a value pg_tenant cannot use.
pub fn invalid_parameter(message: impl AsRef<str>, hint: impl Into<String>) -> ErrorReport {
    report(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message,
        hint,
    )
}

/// 22004: a required argument is NULL.
pub fn null_argument(function: &str, argument: &str) -> ErrorReport {
    report(
        PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
        format!("{function}: argument {argument} must not be NULL"),
        format!("Pass a value for {argument}."),
    )
}

/// P0002: a tenant reference (UUID or slug) matches no tenant.
pub fn unknown_tenant(reference: &str) -> ErrorReport {
    report(
        PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
        unknown_tenant_message(reference),
        UNKNOWN_TENANT_HINT,
    )
}

/// PT011: the same, when an application names the tenant to act for
/// (`tenant_set`): the refusal it answers with 404.
pub fn unknown_tenant_to_act_for(reference: &str) -> ErrorReport {
    refusal(
        Refusal::UnknownTenant,
        unknown_tenant_message(reference),
        UNKNOWN_TENANT_HINT,
    )
}

fn unknown_tenant_message(reference: &str) -> String {
    format!("tenant \"{}\" does not exist", shorten(reference))
}

const UNKNOWN_TENANT_HINT: &str =
    "Pass the id or the slug of an existing tenant (see tenant.tenants).";

/// XX000 for SPI failures that are pg_tenant's own bugs (a query that did not
/// return what it must). Errors raised by Postgres itself keep their SQLSTATE.
pub fn internal(err: SpiError) -> ErrorReport {
    bug(format!("internal error: {err}"))
}

/// One of pg_tenant's own tables or columns is missing or changed: the fix
/// is to reinstall the extension.
pub fn damaged(code: PgSqlErrorCode, message: impl AsRef<str>) -> ErrorReport {
    report(
        code,
        message,
        "Reinstall the extension: DROP EXTENSION pg_tenant; CREATE EXTENSION pg_tenant.",
    )
}

/// XX000 for a state pg_tenant's own code must never reach.
pub fn bug(message: impl AsRef<str>) -> ErrorReport {
    report(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        message,
        "This is a bug in pg_tenant; please report it with the statement that caused it.",
    )
}

/// Raises `err` as a Postgres ERROR with its own SQLSTATE. Trigger functions
/// need this: `#[pg_trigger]` reports a returned `Err` as a generic "trigger
/// function panic" instead of the error itself.
pub fn raise(err: ErrorReport) -> ! {
    err.report(pgrx::PgLogLevel::ERROR);
    unreachable!("an ERROR report does not return")
}

/// Keeps messages readable when a setting holds a very long value.
pub fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head}...")
    }
}

#[cfg(test)]
mod unit_tests {
    use super::shorten;

    #[test]
    fn shorten_keeps_short_values_and_cuts_long_ones() {
        assert_eq!(shorten("acme"), "acme");
        let long = "x".repeat(200);
        let cut = shorten(&long);
        assert_eq!(cut.len(), 83);
        assert!(cut.ends_with("..."));
    }
}
