//! Small helpers around SPI. Values always travel as `$n` parameters; the only
//! text pasted into SQL is identifiers quoted by Postgres itself.

use crate::error::{self, Result};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiResult};
use pgrx::PgOid;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

thread_local! {
    /// Plans of the statements that can run for every write (creating a
    /// tenant's counter rows), prepared once per session. Keyed by the
    /// address of their static text.
    static SAVED_PLANS: RefCell<HashMap<usize, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
    /// The owner of tenant.tenants, for the per-write identity switch; reset
    /// with the other caches when the registry changes.
    static REGISTRY_OWNER: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
}

/// Runs a query that returns at most one row and one column.
pub fn one<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Result<Option<T>> {
    Spi::connect(|client| client.select(sql, Some(1), args)?.first().get_one::<T>())
        .or_else(no_rows_is_none)
        .map_err(error::internal)
}

/// Runs a query that returns at most one row of two columns.
pub fn two<A, B>(sql: &str, args: &[DatumWithOid]) -> Result<Option<(Option<A>, Option<B>)>>
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
{
    Spi::connect(|client| {
        let table = client.select(sql, Some(1), args)?;
        if table.is_empty() {
            return Ok(None);
        }
        table.first().get_two::<A, B>().map(Some)
    })
    .map_err(error::internal)
}

/// One row of three nullable columns.
pub type Row3<A, B, C> = (Option<A>, Option<B>, Option<C>);

/// Runs a query that returns at most one row of three columns.
pub fn three<A, B, C>(sql: &str, args: &[DatumWithOid]) -> Result<Option<Row3<A, B, C>>>
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
    C: FromDatum + IntoDatum,
{
    Spi::connect(|client| {
        let table = client.select(sql, Some(1), args)?;
        if table.is_empty() {
            return Ok(None);
        }
        table.first().get_three::<A, B, C>().map(Some)
    })
    .map_err(error::internal)
}

/// Runs a query and returns its first column for every row (NULLs skipped).
pub fn column<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Result<Vec<T>> {
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(sql, None, args)? {
            if let Some(v) = row.get::<T>(1)? {
                out.push(v);
            }
        }
        Ok(out)
    })
    .map_err(error::internal)
}

/// Runs a query and returns its first two columns for every row where both
/// are not NULL.
pub fn pairs<A, B>(sql: &str, args: &[DatumWithOid]) -> Result<Vec<(A, B)>>
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
{
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(sql, None, args)? {
            if let (Some(a), Some(b)) = (row.get::<A>(1)?, row.get::<B>(2)?) {
                out.push((a, b));
            }
        }
        Ok(out)
    })
    .map_err(error::internal)
}

/// Runs statements that change the database (DDL, DML), text as given.
pub fn execute(sql: &str, args: &[DatumWithOid]) -> Result<()> {
    Spi::connect_mut(|client| client.update(sql, None, args).map(|_| ())).map_err(error::internal)
}

/// Runs a data-changing or locking query (`INSERT ... RETURNING`,
/// `SELECT ... FOR UPDATE`) that returns at most one value; None when it
/// returns no row. Never with an SPI row limit: a limit stops `... RETURNING`
/// after that many rows, before the statement's AFTER STATEMENT triggers
/// (which count usage) are queued.
pub fn execute_one<T: FromDatum + IntoDatum>(
    sql: &str,
    args: &[DatumWithOid],
) -> Result<Option<T>> {
    Spi::connect_mut(|client| client.update(sql, None, args)?.first().get_one::<T>())
        .or_else(no_rows_is_none)
        .map_err(error::internal)
}

/// Runs a data-changing statement from a plan prepared once per session and
/// returns the first two columns of its first row (None when no row).
///
/// Saved plans are for the statements that can run per write (creating a
/// tenant's counter row); parsing and planning would cost more than running
/// them.
/// The text is parsed again whenever `search_path` changes, so it must name
/// everything with its schema, operators included (`OPERATOR(pg_catalog.+)`):
/// callers run it as the registry owner without pinning `search_path`.
pub fn saved_two<A, B>(
    sql: &'static str,
    types: &[PgOid],
    args: &[DatumWithOid],
) -> Result<Option<(Option<A>, Option<B>)>>
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
{
    // The plan is taken out of the cache while it runs, so a nested use of
    // the same text (a trigger fired by it) prepares its own instead of
    // sharing it.
    let key = sql.as_ptr() as usize;
    Spi::connect_mut(|client| {
        let plan = match SAVED_PLANS.with(|plans| plans.borrow_mut().remove(&key)) {
            Some(plan) => plan,
            None => client.prepare_mut(sql, types)?.keep(),
        };
        let result = client.update(&plan, None, args).and_then(|table| {
            if table.is_empty() {
                return Ok(None);
            }
            table.first().get_two::<A, B>().map(Some)
        });
        SAVED_PLANS.with(|plans| plans.borrow_mut().insert(key, plan));
        result
    })
    .map_err(error::internal)
}

fn no_rows_is_none<T>(err: pgrx::spi::SpiError) -> SpiResult<Option<T>> {
    match err {
        pgrx::spi::SpiError::InvalidPosition => Ok(None),
        other => Err(other),
    }
}

/// The schema pg_tenant's functions live in, quoted for use in SQL text.
/// Generated policies and triggers name functions through it, so they work
/// whatever `search_path` the application uses.
pub fn extension_schema() -> Result<String> {
    one::<String>(
        "SELECT pg_catalog.quote_ident(n.nspname::text)
           FROM pg_catalog.pg_extension e
           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
          WHERE e.extname = 'pg_tenant'",
        &[],
    )?
    .ok_or_else(|| {
        error::report(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "the pg_tenant extension is not installed in this database",
            "Run CREATE EXTENSION pg_tenant first.",
        )
    })
}

/// Runs `f` with the identity of the owner of `tenant.tenants`, the way
/// Postgres runs referential-integrity checks: the owner bypasses RLS on its
/// own table (SECURITY_NOFORCE_RLS), so reading a tenant's status from inside a
/// policy cannot recurse into that same policy. `SECURITY_LOCAL_USERID_CHANGE`
/// forbids SET ROLE meanwhile. If `f` raises, (sub)transaction abort restores
/// the previous identity.
pub fn as_registry_owner<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    let flags = pg_sys::SECURITY_NOFORCE_RLS as i32;
    as_role(registry_owner()?, flags, || {
        let guc_level = unsafe { pin_search_path() };
        let result = f();
        // Commit-style exit: restores the caller's search_path and keeps any
        // other setting changed meanwhile, as a SECURITY DEFINER function's
        // `SET search_path` clause does.
        unsafe { pg_sys::AtEOXact_GUC(true, guc_level) };
        result
    })
}

/// Like `as_registry_owner`, without pinning `search_path`: for the
/// statements that run on every write, which are fully schema-qualified
/// saved plans (`saved_two`) and cost less than a GUC nest level.
pub fn as_registry_owner_qualified<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    as_role(registry_owner()?, pg_sys::SECURITY_NOFORCE_RLS as i32, f)
}

/// Runs `f` — work on a user's table, such as deleting or counting a
/// tenant's rows — with the identity of the table's owner, never the registry
/// owner's: whatever user code the work runs (the table's triggers, a rule,
/// a column default, an index expression, an operator, a function of a
/// check constraint or of a foreign key action) gets only the rights its own
/// table's owner has anyway. As Postgres does for VACUUM, ANALYZE and
/// REINDEX, it is a security-restricted operation (no SET ROLE, no temporary
/// objects, no cursors WITH HOLD meanwhile), with `search_path` pinned to
/// `pg_catalog, pg_temp`; the owner is not held back by its own table's
/// FORCE ROW LEVEL SECURITY (SECURITY_NOFORCE_RLS, as in referential
/// integrity checks), since the work must see every tenant's rows.
pub fn as_table_owner<R>(relid: pg_sys::Oid, f: impl FnOnce() -> Result<R>) -> Result<R> {
    let owner = one::<pg_sys::Oid>(
        "SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1",
        &[relid.into()],
    )?
    .ok_or_else(|| {
        error::report(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("table with OID {} does not exist", relid.to_u32()),
            "It was dropped meanwhile; run tenant_check() to find stale registry rows.",
        )
    })?;
    let flags = (pg_sys::SECURITY_NOFORCE_RLS | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32;
    as_role(owner, flags, || {
        let guc_level = unsafe { pin_search_path() };
        let result = f();
        unsafe { pg_sys::AtEOXact_GUC(true, guc_level) };
        result
    })
}

/// Refuses (42809) a relation that is not an ordinary or partitioned table:
/// pg_tenant's internal entry points take tables only, so that no view, with
/// functions of its own, or foreign table is ever scanned on pg_tenant's
/// behalf.
pub fn require_table(relid: pg_sys::Oid, function: &str) -> Result<()> {
    let kind = unsafe { pg_sys::get_rel_relkind(relid) } as u8;
    if kind == pg_sys::RELKIND_RELATION || kind == pg_sys::RELKIND_PARTITIONED_TABLE {
        return Ok(());
    }
    let what = match kind {
        pg_sys::RELKIND_VIEW => "a view",
        pg_sys::RELKIND_MATVIEW => "a materialized view",
        pg_sys::RELKIND_FOREIGN_TABLE => "a foreign table",
        pg_sys::RELKIND_SEQUENCE => "a sequence",
        pg_sys::RELKIND_INDEX | pg_sys::RELKIND_PARTITIONED_INDEX => "an index",
        pg_sys::RELKIND_COMPOSITE_TYPE => "a composite type",
        0 => "not a relation",
        _ => "not a table",
    };
    let name = relation_label(relid);
    Err(error::report(
        PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
        format!("{function}: {name} is {what}, not a table"),
        "pg_tenant makes ordinary and partitioned tables tenant-scoped only; pass the table itself.",
    ))
}

/// `schema.name` of a relation, quoted where needed, or its OID.
pub fn relation_label(relid: pg_sys::Oid) -> String {
    unsafe {
        let name = pg_sys::get_rel_name(relid);
        if name.is_null() {
            return format!("relation with OID {}", relid.to_u32());
        }
        let schema = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid));
        let name = std::ffi::CStr::from_ptr(name).to_string_lossy();
        if schema.is_null() {
            return pgrx::spi::quote_identifier(name);
        }
        pgrx::spi::quote_qualified_identifier(
            std::ffi::CStr::from_ptr(schema).to_string_lossy(),
            name,
        )
    }
}

/// Forgets the cached registry owner (the registry changed).
pub fn forget_registry_owner() {
    REGISTRY_OWNER.with(|cell| cell.set(pg_sys::InvalidOid));
}

/// The owner of tenant.tenants, cached for the session.
fn registry_owner() -> Result<pg_sys::Oid> {
    let cached = REGISTRY_OWNER.with(|cell| cell.get());
    if cached != pg_sys::InvalidOid {
        return Ok(cached);
    }
    let owner = one::<pg_sys::Oid>(
        "SELECT c.relowner FROM pg_catalog.pg_class c
          WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('tenant.tenants'::pg_catalog.text)",
        &[],
    )?
    .ok_or_else(|| {
        error::damaged(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            "the registry table tenant.tenants is missing",
        )
    })?;
    REGISTRY_OWNER.with(|cell| cell.set(owner));
    Ok(owner)
}

/// Runs `f` with the identity of `role` (plus `extra_flags`, e.g.
/// SECURITY_NOFORCE_RLS), so that its privileges and the policies that apply
/// to it are the ones checked. `SECURITY_LOCAL_USERID_CHANGE` forbids SET
/// ROLE meanwhile; if `f` raises, (sub)transaction abort restores the
/// previous identity.
pub fn as_role<R>(role: pg_sys::Oid, extra_flags: i32, f: impl FnOnce() -> Result<R>) -> Result<R> {
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_context: i32 = 0;
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        let flags = pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 | extra_flags;
        pg_sys::SetUserIdAndSecContext(role, saved_context | flags);
    }
    let result = f();
    unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_context) };
    result
}

/// Sets `search_path = pg_catalog, pg_temp` in a new GUC nest level and returns
/// the level. While running as the registry owner, the caller's search_path
/// must not decide which functions and operators run: a role could otherwise
/// put its own `=` operator in front of pg_catalog and have it executed with
/// the owner's rights (tests/pg_regress/sql/search_path_attack.sql).
unsafe fn pin_search_path() -> i32 {
    unsafe {
        let level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        level
    }
}
