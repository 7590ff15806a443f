//! Checks of what surrounds the tenant-scoped tables: functions the planner
//! may run before the policies filter (LEAKPROOF), login roles one
//! `set_config` away from every tenant (members of tenant_bypass), default
//! privileges that expose a table before `tenant_enable` runs, and column
//! defaults that turn pg_tenant's clear refusal into a cast error.

use super::{flag, ok_when_empty, rows, text, Finding, Status};
use crate::error::Result;
use crate::names::TENANT_COLUMN;
use crate::store::spi;
use pgrx::spi::quote_identifier;

const LEAKPROOF_FUNCTIONS_SQL: &str =
    include_str!("../../sql/queries/check/leakproof_functions.sql");
const BYPASS_MEMBERS_SQL: &str = include_str!("../../sql/queries/check/bypass_members.sql");
const DEFAULT_PRIVILEGES_SQL: &str = include_str!("../../sql/queries/check/default_privileges.sql");
const CASTING_DEFAULTS_SQL: &str = include_str!("../../sql/queries/check/casting_defaults.sql");
const TEMPORARY_OBJECTS_SQL: &str = include_str!("../../sql/queries/check/temporary_objects.sql");

pub fn check_all() -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    findings.extend(leakproof_functions()?);
    findings.extend(bypass_members()?);
    findings.extend(default_privileges()?);
    findings.extend(casting_defaults()?);
    findings.extend(temporary_objects()?);
    Ok(findings)
}

/// Check 20: PUBLIC may create temporary objects (TEMPORARY on the
/// database, Postgres' default). Behind a transaction pooler a server
/// connection's temporary schema outlives each client: one client (a SQL
/// injection) can create a temporary view, table or rule named like a
/// tenant-scoped table, which shadows it for unqualified names, and every
/// later client of the connection reads and writes through it. Warns; the
/// fix revokes it from PUBLIC (roles that need temporary tables get it by
/// name, outside the pooled application).
fn temporary_objects() -> Result<Vec<Finding>> {
    rows(TEMPORARY_OBJECTS_SQL, 2, |v| {
        let (database, public_may) = (text(v, 0), text(v, 1));
        if public_may != "true" {
            return Finding::new(
                "temporary_objects",
                &database,
                Status::Ok,
                "PUBLIC may not create temporary objects in this database",
            );
        }
        Finding::new(
            "temporary_objects",
            &database,
            Status::Warn,
            "PUBLIC may create temporary objects here (TEMPORARY, Postgres' default): behind a transaction pooler one client's temporary view or table named like a tenant-scoped table shadows it for every later client of that server connection, whose reads and writes then go through it",
        )
        .fix(&[
            format!("REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC"),
            format!("-- then GRANT TEMPORARY ON DATABASE {database} TO the roles that need temporary tables and do not sit behind a pooler"),
        ])
    })
}

/// Check 13: a LEAKPROOF function may run on rows before the policies have
/// filtered them (the planner orders leakproof quals first). One that can
/// raise an error or log its argument then shows other tenants' values.
/// Fails for a user's function; an extension's only warns (its authors
/// vouch for it, and a superuser installed it).
fn leakproof_functions() -> Result<Vec<Finding>> {
    let mut findings = rows(LEAKPROOF_FUNCTIONS_SQL, 3, |v| {
        let (function, owner, extension) = (text(v, 0), text(v, 1), text(v, 2));
        let fix = [format!("ALTER FUNCTION {function} NOT LEAKPROOF")];
        if extension.is_empty() {
            Finding::new(
                "leakproof_function",
                &function,
                Status::Fail,
                format!("marked LEAKPROOF (owner {owner}): the planner may call it on other tenants' rows before the policies filter them, and an error or notice it raises shows their values"),
            )
            .fix(&fix)
        } else {
            Finding::new(
                "leakproof_function",
                &function,
                Status::Warn,
                format!("marked LEAKPROOF by extension {extension}: the planner may call it on other tenants' rows before the policies filter them; keep it only if it can raise no error that shows its argument"),
            )
            .fix(&fix)
        }
    })?;
    ok_when_empty(
        "leakproof_function",
        &mut findings,
        "no function outside pg_catalog is marked LEAKPROOF",
    );
    Ok(findings)
}

/// Check 14: a LOGIN role in tenant_bypass reads and writes every tenant
/// after one `set_config('app.bypass_rls', 'on', true)`, in any of its
/// sessions: an application's login role must not be one.
fn bypass_members() -> Result<Vec<Finding>> {
    let mut findings = rows(BYPASS_MEMBERS_SQL, 2, |v| {
        let (role, via) = (text(v, 0), text(v, 1));
        let quoted = quote_identifier(&role);
        let through = if via == "tenant_bypass" {
            String::new()
        } else {
            format!(" (through {via})")
        };
        let fix = if via == "tenant_bypass" {
            vec![
                "-- if applications connect as it, give the job its own login role".to_string(),
                format!("REVOKE tenant_bypass FROM {quoted}"),
            ]
        } else {
            vec![format!(
                "-- if applications connect as it, revoke {via} from {quoted} and give the job its own login role"
            )]
        };
        Finding::new(
            "bypass_member",
            &role,
            Status::Warn,
            format!("LOGIN role is a member of tenant_bypass{through}: one set_config('app.bypass_rls', 'on', true) in any of its sessions reads and writes every tenant's rows; only background jobs and admin tools should connect as it"),
        )
        .fix(&fix)
    })?;
    ok_when_empty(
        "bypass_member",
        &mut findings,
        "no login role is a member of tenant_bypass",
    );
    Ok(findings)
}

/// Check 15: default privileges that grant roles access to every new table
/// at creation. Until `tenant_enable` runs on it (in a later migration, or
/// never) such a table shows every tenant's rows to them. Always a
/// warning: `pg_tenant.auto_enable` covers new tables with a `tenant_id
/// uuid` column only, and only in the sessions that have it on, which this
/// check cannot see.
fn default_privileges() -> Result<Vec<Finding>> {
    let schema = spi::extension_schema()?;
    let mut findings = rows(DEFAULT_PRIVILEGES_SQL, 4, |v| {
        let (creator, in_schema, grantee, privileges) =
            (text(v, 0), text(v, 1), text(v, 2), text(v, 3));
        let where_ = if in_schema.is_empty() {
            String::new()
        } else {
            format!(" in schema {in_schema}")
        };
        let for_schema = if in_schema.is_empty() {
            String::new()
        } else {
            format!(" IN SCHEMA {in_schema}")
        };
        Finding::new(
            "default_privileges",
            format!("tables of {creator}{where_} to {grantee}"),
            Status::Warn,
            format!("every table {creator} creates{where_} is granted {privileges} to {grantee} at once: until tenant_enable runs on it (in a later migration, or never) {grantee} reads every tenant's rows in it"),
        )
        .fix(&[
            format!("-- call {schema}.tenant_enable in the transaction that creates each table (or turn on pg_tenant.auto_enable for {creator}), or grant per table after tenant_enable:"),
            format!("ALTER DEFAULT PRIVILEGES FOR ROLE {creator}{for_schema} REVOKE {privileges} ON TABLES FROM {grantee}"),
        ])
    })?;
    ok_when_empty(
        "default_privileges",
        &mut findings,
        "no default privileges grant new tables to application roles",
    );
    Ok(findings)
}

/// Check 16: a column default such as
/// `current_setting('app.current_tenant', true)::uuid` (Better Tenant's
/// `tenantId` helper) casts the empty string of an unset context, so a
/// tenantless insert fails with 22P02 `invalid input syntax for type uuid`
/// instead of pg_tenant's PT001. On a tenant-scoped table the fill trigger
/// sets tenant_id from the context: the default is not needed.
fn casting_defaults() -> Result<Vec<Finding>> {
    let schema = spi::extension_schema()?;
    let mut findings = rows(CASTING_DEFAULTS_SQL, 5, |v| {
        let (table, column, default) = (text(v, 0), text(v, 1), text(v, 2));
        let (scoped, is_tenant_column) = (flag(v, 3), flag(v, 4));
        let fix = if scoped && is_tenant_column {
            vec![format!(
                "ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT"
            )]
        } else if is_tenant_column {
            vec![format!(
                "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {schema}.current_tenant_id()"
            )]
        } else if default.contains("app.current_user_id") {
            vec![format!(
                "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {schema}.current_tenant_user_id()"
            )]
        } else {
            vec![format!(
                "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {schema}.current_tenant_id()"
            )]
        };
        let why = if scoped && is_tenant_column {
            format!(": the fill trigger sets {TENANT_COLUMN} from the context, the default is not needed")
        } else {
            String::new()
        };
        Finding::new(
            "casting_default",
            format!("{table}.{column}"),
            Status::Warn,
            format!("default {default} casts the context setting: without a tenant the insert fails with 22P02 (invalid input syntax) instead of pg_tenant's PT001{why}"),
        )
        .fix(&fix)
    })?;
    ok_when_empty(
        "casting_default",
        &mut findings,
        "no column default casts app.current_tenant or app.current_user_id",
    );
    Ok(findings)
}
