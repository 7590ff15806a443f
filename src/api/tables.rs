//! `tenant_enable`, `tenant_enable_sql`, `tenant_disable`, and the internal
//! entry points their SQL calls (`_tenant_register_table`, ...). Everything
//! runs inside the caller's transaction: if any statement fails, nothing is
//! kept.

use crate::enforce::usage;
use crate::error::{self, Result};
use crate::registry::{roles, tenants};
use crate::session::ddl;
use crate::store::subxact::{in_subtransaction, Keep};
use crate::store::{identity, lookup, spi};
use crate::tables::plan::{plan_disable, plan_enable, render, EnableOptions};
use crate::tables::state::TableState;
use pgrx::prelude::*;
use pgrx::PgRelation;

fn options(
    add_column: Option<bool>,
    backfill_tenant: Option<&str>,
    create_index: Option<bool>,
    track_usage: Option<bool>,
) -> Result<EnableOptions> {
    Ok(EnableOptions {
        add_column: add_column.unwrap_or(false),
        backfill_tenant: backfill_tenant
            .map(tenants::resolve_reference)
            .transpose()?,
        create_index: create_index.unwrap_or(true),
        track_usage: track_usage.unwrap_or(true),
    })
}

fn enable_text(oid: pg_sys::Oid, options: EnableOptions) -> Result<(String, Vec<String>)> {
    let table = TableState::read(oid)?;
    let statements = plan_enable(&table, &options)?;
    Ok((
        render(
            &table,
            &statements,
            "is already tenant-scoped; nothing to do",
        ),
        statements,
    ))
}

/// Runs the statements of a plan for table `relid` one by one. The DDL
/// guard lets the definitions through (`session::ddl::own`), and only them:
/// the backfill UPDATE and the registry calls fire the table's own triggers
/// and functions, whose DDL the guard judges as anyone's. The backfill runs
/// as the table's owner when the caller is an operator without the owner's
/// privileges (`as_caller_or_table_owner`): it must not run that table's
/// triggers with the operator's rights.
///
/// The foreign key to tenant.tenants needs REFERENCES on it, which only
/// operators (tenant_admin) hold: for a table's owner that is not one, that
/// one statement runs as the registry's owner. It runs no code of the
/// table's (its validation reads tenant_id, a uuid, with Postgres' own
/// operator).
fn run(relid: pg_sys::Oid, statements: &[String]) -> Result<()> {
    for statement in statements {
        if statement.starts_with("UPDATE ") {
            identity::as_caller_or_table_owner(relid, || spi::execute(statement, &[]))?;
        } else if statement.starts_with("SELECT ") {
            spi::execute(statement, &[])?;
        } else if is_registry_foreign_key(statement) {
            add_registry_foreign_key(statement)?;
        } else {
            ddl::own(|| spi::execute(statement, &[]))?;
        }
    }
    Ok(())
}

/// Adds the foreign key to tenant.tenants. A row naming a tenant the
/// registry does not have (data from another system whose tenants were not
/// imported) fails with 23503 and a hint on importing them with their ids;
/// any other failure (a cancel, a lock timeout) is Postgres' own, raised
/// again as it was, never retried.
fn add_registry_foreign_key(statement: &str) -> Result<()> {
    let as_owner = !may_reference_tenants()?;
    let add = || {
        if as_owner {
            ddl::own(|| identity::as_registry_owner(|| spi::execute(statement, &[])))
        } else {
            ddl::own(|| spi::execute(statement, &[]))
        }
    };
    match in_subtransaction(Keep::OnSuccess, add) {
        Ok(result) => result,
        Err(caught) if caught.sqlstate == "23503" => {
            let table = statement
                .strip_prefix("ALTER TABLE ")
                .and_then(|rest| rest.strip_suffix(REGISTRY_FOREIGN_KEY))
                .unwrap_or_default();
            Err(error::report(
                PgSqlErrorCode::ERRCODE_FOREIGN_KEY_VIOLATION,
                format!("tenant_enable: rows of {table} name a tenant_id that is not a tenant of the registry"),
                format!(
                    "Create those tenants first, keeping their ids: SELECT tenant_create(name, slug, id => id) FROM <your tenants table>; \
                     the ids missing are SELECT DISTINCT tenant_id FROM {table} EXCEPT SELECT id FROM tenant.tenants."
                ),
            )
            .set_detail(caught.message))
        }
        // Raised again outside the subtransaction, with its own code and detail.
        Err(caught) => caught.rethrow(),
    }
}

/// The end of the statement that adds the foreign key (`tables::plan`).
const REGISTRY_FOREIGN_KEY: &str = " ADD FOREIGN KEY (tenant_id) REFERENCES tenant.tenants (id)";

/// Whether the plan's statement is the one that adds the foreign key to
/// tenant.tenants: by its whole shape, never by a substring a table's name
/// could carry (it decides which statement runs as the registry owner).
fn is_registry_foreign_key(statement: &str) -> bool {
    statement.starts_with("ALTER TABLE ") && statement.ends_with(REGISTRY_FOREIGN_KEY)
}

fn may_reference_tenants() -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT pg_catalog.has_column_privilege('tenant.tenants', 'id', 'REFERENCES')",
        &[],
    )?
    .unwrap_or(false))
}

/// The table's OID, with the relation closed again: ALTER TABLE refuses a
/// table that this session still holds open ("used by active queries").
/// tenant_enable, tenant_enable_sql, tenant_enable_script and tenant_disable
/// are for the table's owner (a member of the owning role) and for
/// operators; anyone else gets one clear 42501 before anything is read.
pub(crate) fn release(tbl: Option<PgRelation>, function: &str) -> Result<pg_sys::Oid> {
    let tbl = tbl.ok_or_else(|| error::null_argument(function, "tbl"))?;
    // SAFETY: an open relation always has its pg_class row in rd_rel.
    let owner = unsafe { (*tbl.rd_rel).relowner };
    if !unsafe { pg_sys::has_privs_of_role(pg_sys::GetUserId(), owner) } && !roles::is_operator() {
        return Err(error::insufficient_privilege(
            format!(
                "{function}: only the owner of table {} (or an operator) may do this",
                pgrx::spi::quote_qualified_identifier(tbl.namespace(), tbl.name())
            ),
            "Run it as the role that owns the table, e.g. in the migration that created it; operators are members of tenant_admin.",
        ));
    }
    let oid = tbl.oid();
    drop(tbl);
    Ok(oid)
}

/// The table and tenant_enable's options, checked.
fn prepare(
    tbl: Option<PgRelation>,
    function: &str,
    add_column: Option<bool>,
    backfill_tenant: Option<&str>,
    create_index: Option<bool>,
    track_usage: Option<bool>,
) -> Result<(pg_sys::Oid, EnableOptions)> {
    let oid = release(tbl, function)?;
    identity::refuse_temporary(oid, function)?;
    Ok((
        oid,
        options(add_column, backfill_tenant, create_index, track_usage)?,
    ))
}

/// Makes a table tenant-scoped and returns the SQL it ran.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_enable(
    tbl: Option<PgRelation>,
    add_column: default!(Option<bool>, false),
    backfill_tenant: default!(Option<&str>, "NULL"),
    create_index: default!(Option<bool>, true),
    track_usage: default!(Option<bool>, true),
) -> Result<String> {
    let (oid, options) = prepare(
        tbl,
        "tenant_enable",
        add_column,
        backfill_tenant,
        create_index,
        track_usage,
    )?;
    let (text, statements) = enable_text(oid, options)?;
    run(oid, &statements)?;
    Ok(text)
}

/// Makes a new table tenant-scoped with tenant_enable's defaults and the
/// given `track_usage` (`api::ddl_scope`: a partition created under or
/// attached to a tenant-scoped parent, counted when the parent is; a table
/// `pg_tenant.auto_enable` applies to).
pub fn enable_with_defaults(oid: pg_sys::Oid, track_usage: bool) -> Result<()> {
    let options = EnableOptions {
        add_column: false,
        backfill_tenant: None,
        create_index: true,
        track_usage,
    };
    run(oid, &enable_text(oid, options)?.1)
}

/// The SQL `tenant_enable` would run with the same arguments.
#[pg_extern(stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_enable_sql(
    tbl: Option<PgRelation>,
    add_column: default!(Option<bool>, false),
    backfill_tenant: default!(Option<&str>, "NULL"),
    create_index: default!(Option<bool>, true),
    track_usage: default!(Option<bool>, true),
) -> Result<String> {
    let (oid, options) = prepare(
        tbl,
        "tenant_enable_sql",
        add_column,
        backfill_tenant,
        create_index,
        track_usage,
    )?;
    Ok(enable_text(oid, options)?.0)
}

/// `tenant_enable_script(tbl, ...)`: a complete, idempotent script for a
/// migration file: the `tenant_enable` call with every option spelled out.
/// Unlike `tenant_enable_sql`, whose statements are what this database
/// lacks (nothing at all once the table is tenant-scoped), it is correct on
/// a database in any state: tenant_enable plans from the table's state when
/// the migration runs.
#[pg_extern(stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_enable_script(
    tbl: Option<PgRelation>,
    add_column: default!(Option<bool>, false),
    backfill_tenant: default!(Option<&str>, "NULL"),
    create_index: default!(Option<bool>, true),
    track_usage: default!(Option<bool>, true),
) -> Result<String> {
    let (oid, options) = prepare(
        tbl,
        "tenant_enable_script",
        add_column,
        backfill_tenant,
        create_index,
        track_usage,
    )?;
    // Refuses what tenant_enable would refuse, before a migration carries it.
    enable_text(oid, options)?;
    let table = TableState::read(oid)?.qualified_name;
    let schema = spi::extension_schema()?;
    let literal = |value: Option<&str>| value.map_or("NULL".to_string(), pgrx::spi::quote_literal);
    Ok(format!(
        "-- pg_tenant: makes {table} tenant-scoped. Idempotent: correct where the table is not,\n\
         -- partly or already tenant-scoped (tenant_enable plans from its state when this runs).\n\
         SELECT {schema}.tenant_enable({}::regclass, add_column => {}, backfill_tenant => {}, create_index => {}, track_usage => {});\n",
        pgrx::spi::quote_literal(&table),
        add_column.unwrap_or(false),
        literal(backfill_tenant),
        create_index.unwrap_or(true),
        track_usage.unwrap_or(true),
    ))
}

/// Undoes `tenant_enable` and returns the SQL it ran.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_disable(tbl: Option<PgRelation>) -> Result<String> {
    let oid = release(tbl, "tenant_disable")?;
    let table = TableState::read(oid)?;
    if super::audit::is_audited(oid)? {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("tenant_disable: {} is audited", table.qualified_name),
            format!(
                "Its audit log is per tenant: run SELECT tenant_audit_disable({}) first.",
                pgrx::spi::quote_literal(&table.qualified_name)
            ),
        ));
    }
    let statements = plan_disable(&table)?;
    let text = render(&table, &statements, "is not tenant-scoped; nothing to do");
    run(oid, &statements)?;
    Ok(text)
}

/// Records a table in tenant.tenants' sibling `tenant.tables`. Runs as its
/// caller (the SQL of tenant_enable), which must have the privileges of the
/// table's owner; the registry write then runs as the registry's owner.
/// Not SECURITY DEFINER: inside one, the role that called it is lost, and
/// the session's role (`GetOuterUserId`) would pass for code of another
/// role's running in an operator's session (a table owner's trigger fired
/// by tenant_purge, say), which could then register or unregister any table.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _tenant_register_table(
    tbl: PgRelation,
    column_added: bool,
    index_created: bool,
) -> Result<bool> {
    identity::require_table(tbl.oid(), "_tenant_register_table")?;
    let caller = require_owner(&tbl)?;
    let inserted = identity::as_registry_owner(|| {
        spi::execute_one::<bool>(
            "INSERT INTO tenant.tables (relid, column_added, index_created, enabled_by)
             VALUES ($1::regclass, $2, $3, (SELECT rolname FROM pg_roles WHERE oid = $4))
             ON CONFLICT (relid) DO NOTHING RETURNING true",
            &[
                tbl.oid().into(),
                column_added.into(),
                index_created.into(),
                caller.into(),
            ],
        )
    })?;
    Ok(inserted.unwrap_or(false))
}

/// Removes a table from `tenant.tables` (see `_tenant_register_table`).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _tenant_unregister_table(tbl: PgRelation) -> Result<bool> {
    require_owner(&tbl)?;
    usage::stopped_counting(tbl.oid());
    let deleted = identity::as_registry_owner(|| {
        // Writers into the tree finish first (their rows counted on it are
        // then in what is forgotten and recounted below).
        usage::lock_tree(tbl.oid());
        usage::forget_table(tbl.oid())?;
        spi::execute_one::<bool>(
            "DELETE FROM tenant.tables WHERE relid = $1::regclass RETURNING true",
            &[tbl.oid().into()],
        )
    })?;
    // Counted tables below counted on it: they count their own rows now.
    super::ddl_scope::recount_tree(tbl.oid())?;
    Ok(deleted.unwrap_or(false))
}

/// Starts counting a table's usage: counts its existing rows per tenant
/// (replacing any counters it had) and marks it in tenant.tables. Called by
/// the SQL of tenant_enable after it attached the usage triggers, whose
/// lock keeps writers out meanwhile. The rows are read as the table's
/// owner, the counters written as the registry's.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _tenant_usage_start(tbl: PgRelation) -> Result<bool> {
    identity::require_table(tbl.oid(), "_tenant_usage_start")?;
    require_owner(&tbl)?;
    let relid = tbl.oid();
    let schema = spi::extension_schema()?;
    identity::as_registry_owner(|| {
        // Writers into the tree finish first; new ones wait for this
        // transaction (they would count where the tree said before).
        usage::lock_tree(relid);
        usage::forget_table(relid)?;
        // Its partitions and inheritance children count on it from now on,
        // and its recount takes in their rows: counters they kept while
        // counting alone go.
        let mut below = Vec::new();
        for table in lookup::tree_of(relid, None).into_iter().skip(1) {
            if lookup::tracks_usage(table)?.is_some() {
                below.push(table);
            }
        }
        for table in &below {
            usage::forget_table(*table)?;
        }
        usage::count_existing_rows(relid, &schema)?;
        let marked = set_track_usage(relid, true)?;
        // A table below that another counted table reads too (multiple
        // inheritance) would be counted twice: refused.
        for table in std::iter::once(relid).chain(below) {
            usage::refuse_two_roots(table)?;
        }
        Ok(marked)
    })
}

/// Stops counting a table's usage: removes its counters and its bytes from
/// its tenants' storage (called by the SQL of tenant_enable(track_usage => false)).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _tenant_usage_stop(tbl: PgRelation) -> Result<bool> {
    require_owner(&tbl)?;
    let stopped = identity::as_registry_owner(|| {
        usage::lock_tree(tbl.oid());
        usage::forget_table(tbl.oid())?;
        set_track_usage(tbl.oid(), false)
    })?;
    // Counted tables below counted on it: they count their own rows now
    // (they would otherwise start again from nothing, below their limits).
    super::ddl_scope::recount_tree(tbl.oid())?;
    Ok(stopped)
}

fn set_track_usage(relid: pg_sys::Oid, track: bool) -> Result<bool> {
    // Either way, which ancestor the partitions below count on changes.
    usage::stopped_counting(relid);
    let updated = spi::execute_one::<bool>(
        "UPDATE tenant.tables SET track_usage = $2 WHERE relid = $1::regclass RETURNING true",
        &[relid.into(), track.into()],
    )?;
    Ok(updated.unwrap_or(false))
}

/// The role that called the function (the current user: the function is
/// not SECURITY DEFINER) must have the privileges of the table's owner.
/// Returns that role.
fn require_owner(tbl: &PgRelation) -> Result<pg_sys::Oid> {
    // SAFETY: reads this backend's current user.
    let caller = unsafe { pg_sys::GetUserId() };
    // SAFETY: an open relation always has its pg_class row in rd_rel.
    let owner = unsafe { (*tbl.rd_rel).relowner };
    if unsafe { pg_sys::has_privs_of_role(caller, owner) } {
        return Ok(caller);
    }
    Err(error::insufficient_privilege(
        format!(
            "only the owner of table {} may register it with pg_tenant or change its registration",
            tbl.name()
        ),
        "Run tenant_enable as the role that owns the table (or a member of it).",
    ))
}
