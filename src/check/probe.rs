//! Check 13: an active probe. For each tenant-scoped table, acting as the
//! given role, it creates two empty probe tenants A and B, writes a row as A,
//! then confirms that B and a session without a tenant can neither see it nor
//! write into A. Everything happens inside a subtransaction that is always
//! rolled back (sequences still advance, as after any rollback).

use super::{Finding, Status};
use crate::error::{self, Refusal, Result};
use crate::names::TENANT_COLUMN;
use crate::store::subxact::{in_subtransaction, Keep};
use crate::store::{identity, spi};
use crate::tables::state::TableState;
use pgrx::prelude::*;
use pgrx::Uuid;

pub fn run(role: &str, tables: &[TableState]) -> Result<Vec<Finding>> {
    let found = spi::two::<pg_sys::Oid, bool>(
        "SELECT oid, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = $1",
        &[role.into()],
    )?;
    let Some((Some(role_oid), Some(bypasses))) = found else {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("probe role \"{role}\" does not exist"),
            "Pass the role your application connects as, e.g. tenant_check('app_user').",
        ));
    };
    // The probe's statements (and the table's triggers) run as the probe
    // role: only as a role the caller could become with SET ROLE anyway.
    if !identity::may_become(role_oid) {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("tenant_check may probe only as a role you can SET ROLE to, and you cannot become \"{role}\""),
            format!(
                "Run tenant_check as a member of {0} (GRANT {0} TO <your role>), or as a superuser.",
                pgrx::spi::quote_identifier(role)
            ),
        ));
    }
    if bypasses {
        return Ok(vec![Finding::new(
            "probe",
            role,
            Status::Fail,
            "the probe role is a superuser or has BYPASSRLS: RLS does not apply to it, so it sees every tenant",
        )
        .fix(&[format!("ALTER ROLE {} NOSUPERUSER NOBYPASSRLS", pgrx::spi::quote_identifier(role))])]);
    }
    tables
        .iter()
        .map(|table| probe_table(role_oid, role, table))
        .collect()
}

fn probe_table(role_oid: pg_sys::Oid, role: &str, table: &TableState) -> Result<Finding> {
    let object = format!("{} as {role}", table.qualified_name);
    Ok(
        match in_subtransaction(Keep::Never, || probe_steps(role_oid, table)) {
            Ok(Ok(report)) => report.into_finding(object),
            Ok(Err(e)) => Finding::new(
                "probe",
                object,
                Status::Warn,
                format!("the probe could not run: {}", e.message()),
            ),
            // A cancel (statement_timeout, pg_cancel_backend) is the caller's:
            // swallowed, the rest would run on without it, and the report would
            // pass with a warning where nothing was probed.
            Err(e) if e.sqlstate.starts_with("57") => {
                return Err(crate::error::report(
                    PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
                    e.message,
                    "tenant_check was canceled during the probe; run it again with more time.",
                ))
            }
            Err(e) => Finding::new(
                "probe",
                object,
                Status::Warn,
                format!("the probe could not run: {}", e.message),
            ),
        },
    )
}

/// What the probe observed; a leak is any of `leaks`.
#[derive(Default)]
struct Report {
    leaks: Vec<String>,
    notes: Vec<String>,
    passed: Vec<&'static str>,
}

impl Report {
    fn into_finding(self, object: String) -> Finding {
        if !self.leaks.is_empty() {
            return Finding::new("probe", object, Status::Fail, self.leaks.join("; "))
                .fix(&["-- run SELECT * FROM tenant_check() and apply the fixes of the failing checks for this table".into()]);
        }
        let mut detail = self.passed.join(", ");
        if !self.notes.is_empty() {
            detail = format!("{detail}; {}", self.notes.join("; "));
        }
        let status = if self.notes.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        };
        Finding::new("probe", object, status, detail)
    }
}

/// What the probe role may do with the table.
struct Privileges {
    select: bool,
    insert: bool,
    update: bool,
}

fn privileges(role_oid: pg_sys::Oid, table: &TableState) -> Result<Privileges> {
    let row = spi::three::<bool, bool, bool>(
        "SELECT has_table_privilege($1, $2::regclass, 'SELECT'), has_table_privilege($1, $2::regclass, 'INSERT'),
                has_table_privilege($1, $2::regclass, 'UPDATE')",
        &[role_oid.into(), table.qualified_name.as_str().into()],
    )?;
    let (select, insert, update) = row.unwrap_or((None, None, None));
    Ok(Privileges {
        select: select.unwrap_or(false),
        insert: insert.unwrap_or(false),
        update: update.unwrap_or(false),
    })
}

/// An INSERT of one probe row: the tenant column (given as $1, or filled by
/// the trigger) plus a typed placeholder for every required column that has
/// no default. None when a required column has a type we cannot make up.
fn probe_insert(table: &TableState, explicit_tenant: bool) -> Result<Option<String>> {
    let required = spi::pairs::<String, String>(
        "SELECT quote_ident(a.attname),
                CASE WHEN a.atttypid = 'uuid'::regtype THEN 'gen_random_uuid()'
                     WHEN a.atttypid IN ('json'::regtype, 'jsonb'::regtype) THEN '''{}'''
                     WHEN t.typcategory = 'S' THEN '''pg_tenant probe'''
                     WHEN t.typcategory = 'N' THEN '0'
                     WHEN t.typcategory = 'B' THEN 'false'
                     WHEN t.typcategory = 'D' THEN 'now()'
                     WHEN t.typcategory = 'A' THEN '''{}'''
                     ELSE '' END
                || '::' || format_type(a.atttypid, a.atttypmod)
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
          WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
            AND a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
            AND a.attname <> $2
          ORDER BY a.attnum",
        &[table.qualified_name.as_str().into(), TENANT_COLUMN.into()],
    )?;
    if required.iter().any(|(_, value)| value.starts_with("::")) {
        return Ok(None);
    }
    let mut columns: Vec<String> = required.iter().map(|(c, _)| c.clone()).collect();
    let mut values: Vec<String> = required.into_iter().map(|(_, v)| v).collect();
    if explicit_tenant {
        columns.push(TENANT_COLUMN.to_string());
        values.push("$1".to_string());
    }
    let t = &table.qualified_name;
    Ok(Some(if columns.is_empty() {
        format!("INSERT INTO {t} DEFAULT VALUES")
    } else {
        format!(
            "INSERT INTO {t} ({}) VALUES ({})",
            columns.join(", "),
            values.join(", ")
        )
    }))
}

fn probe_steps(role_oid: pg_sys::Oid, table: &TableState) -> Result<Report> {
    let mut report = Report::default();
    let may = privileges(role_oid, table)?;
    if !may.select && !may.insert && !may.update {
        report
            .passed
            .push("the role has no privileges on the table");
        return Ok(report);
    }
    let insert_own = probe_insert(table, false)?;
    let insert_into = probe_insert(table, true)?;
    let a = probe_tenant()?;
    let b = probe_tenant()?;
    let t = &table.qualified_name;
    identity::as_probe_role(role_oid, || {
        set_tenant(Some(a))?;
        let wrote = match (&insert_own, may.insert) {
            (_, false) => {
                report
                    .notes
                    .push("the role may not INSERT: write checks skipped".into());
                false
            }
            (None, true) => {
                report.notes.push(
                    "a required column has a type the probe cannot fill: write checks skipped"
                        .into(),
                );
                false
            }
            (Some(sql), true) => {
                match attempt(|| spi::execute(sql, &[])) {
                    Ok(()) => {
                        report.passed.push("wrote a row as tenant A");
                        true
                    }
                    Err((_, message)) => {
                        report.notes.push(format!("could not write a probe row as tenant A ({message}): write checks skipped"));
                        false
                    }
                }
            }
        };
        if wrote && may.select {
            match attempt(|| {
                count(
                    &format!("SELECT count(*) FROM {t} WHERE {TENANT_COLUMN} = $1"),
                    Some(a),
                )
            }) {
                Ok(1) => report.passed.push("A sees its row"),
                Ok(n) => report
                    .notes
                    .push(format!("tenant A sees {n} of its own rows instead of 1")),
                Err((_, message)) => report.notes.push(format!("A cannot read: {message}")),
            }
        }

        set_tenant(Some(b))?;
        if may.select {
            match attempt(|| count(&format!("SELECT count(*) FROM {t}"), None)) {
                Ok(0) => report.passed.push("a new tenant B sees no rows"),
                Ok(n) => report
                    .leaks
                    .push(format!("a new, empty tenant B sees {n} rows")),
                Err((_, message)) => report.notes.push(format!("B cannot read: {message}")),
            }
        }
        if wrote && may.update {
            let moved = attempt(|| {
                count(
                    &format!("WITH changed AS (UPDATE {t} SET {TENANT_COLUMN} = {TENANT_COLUMN} WHERE {TENANT_COLUMN} = $1 RETURNING 1) SELECT count(*) FROM changed"),
                    Some(a),
                )
            });
            match moved {
                Ok(0) => report.passed.push("B cannot update A's row"),
                Ok(n) => report
                    .leaks
                    .push(format!("tenant B updated {n} of tenant A's rows")),
                Err((_, message)) => report.notes.push(format!("B cannot update: {message}")),
            }
        }
        if let (true, Some(sql)) = (wrote, &insert_into) {
            // The role may INSERT (the probe row went in), so the fill
            // trigger's PT021 (or 42501, RLS itself) is the isolation.
            match attempt(|| spi::execute(sql, &[a.into()])) {
                Err((code, _)) if code == Refusal::OtherTenant.sqlstate() || code == "42501" => {
                    report.passed.push("B cannot write into A")
                }
                Ok(()) => report
                    .leaks
                    .push("tenant B wrote a row into tenant A".into()),
                Err((_, message)) => report.notes.push(format!(
                    "writing into A as B was refused for another reason ({message})"
                )),
            }
        }

        set_tenant(None)?;
        if may.select {
            match attempt(|| count(&format!("SELECT count(*) FROM {t}"), None)) {
                Ok(0) => report.passed.push("no tenant sees no rows"),
                Ok(n) => report
                    .leaks
                    .push(format!("a session without a tenant sees {n} rows")),
                Err((_, message)) => report
                    .notes
                    .push(format!("cannot read without a tenant: {message}")),
            }
        }
        if let (true, Some(sql)) = (wrote, &insert_own) {
            // The fill trigger refuses a row without a tenant (PT001).
            match attempt(|| spi::execute(sql, &[])) {
                Err((code, _)) if code == Refusal::NoTenant.sqlstate() => {
                    report.passed.push("no tenant cannot write")
                }
                Ok(()) => report
                    .leaks
                    .push("a session without a tenant wrote a row".into()),
                Err((_, message)) => report.notes.push(format!(
                    "writing without a tenant was refused for another reason ({message})"
                )),
            }
        }
        Ok(())
    })?;
    Ok(report)
}

fn count(sql: &str, tenant: Option<Uuid>) -> Result<i64> {
    let value = match tenant {
        Some(id) => spi::execute_one::<i64>(sql, &[id.into()])?,
        None => spi::execute_one::<i64>(sql, &[])?,
    };
    Ok(value.unwrap_or(0))
}

/// An empty, active tenant that exists only inside the probe.
fn probe_tenant() -> Result<Uuid> {
    identity::as_registry_owner(|| {
        spi::execute_one::<Uuid>(
            "INSERT INTO tenant.tenants (slug, name)
             VALUES ('pg-tenant-probe-' || substr(md5(random()::text || clock_timestamp()::text), 1, 16), 'pg_tenant probe')
             RETURNING id",
            &[],
        )
    })?
    .ok_or_else(|| error::internal(pgrx::spi::SpiError::InvalidPosition))
}

fn set_tenant(tenant: Option<Uuid>) -> Result<()> {
    let value = tenant.map(|id| id.to_string()).unwrap_or_default();
    spi::execute(
        "SELECT pg_catalog.set_config('app.current_tenant', $1, true)",
        &[value.as_str().into()],
    )
}

/// Runs `f` in its own subtransaction, kept when it succeeds: an error is
/// returned as (SQLSTATE, message) instead of aborting the probe.
fn attempt<R>(f: impl FnOnce() -> Result<R>) -> std::result::Result<R, (String, String)> {
    match in_subtransaction(Keep::OnSuccess, f) {
        Ok(Ok(value)) => Ok(value),
        // pg_tenant's own errors (SPI misuse): no SQLSTATE to match on.
        Ok(Err(report)) => Err((String::new(), report.message().to_string())),
        Err(caught) => Err((caught.sqlstate, caught.message)),
    }
}
