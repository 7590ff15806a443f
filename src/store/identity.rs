//! Whose rights pg_tenant's work runs with. Every identity switch in
//! pg_tenant is one of these (docs/security.md, "Identity switches"):
//! - `as_registry_owner` / `as_registry_owner_qualified`: reads and writes of
//!   pg_tenant's own registry tables only;
//! - `as_table_owner`: work on a user's table, as that table's owner;
//! - `as_probe_role`: the probe role of `tenant_check(probe_role)`.

use super::lookup;
use crate::error::{self, Result};
use crate::names::TENANTS_TABLE;
use crate::session::epoch;
use pgrx::prelude::*;
use std::cell::Cell;

thread_local! {
    /// The owner of tenant.tenants and the registry epoch it was read in,
    /// for the per-write identity switch.
    static REGISTRY_OWNER: Cell<(pg_sys::Oid, u64)> = const { Cell::new((pg_sys::InvalidOid, 0)) };
}

/// Runs `f` with the identity of the owner of `tenant.tenants`, the way
/// Postgres runs referential-integrity checks: the owner bypasses RLS on its
/// own table (SECURITY_NOFORCE_RLS), so reading a tenant's status from inside a
/// policy cannot recurse into that same policy. `SECURITY_LOCAL_USERID_CHANGE`
/// forbids SET ROLE meanwhile. If `f` raises, (sub)transaction abort restores
/// the previous identity.
pub fn as_registry_owner<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    let flags = pg_sys::SECURITY_NOFORCE_RLS as i32;
    as_role(registry_owner()?, flags, || with_pinned_search_path(f))
}

/// Runs `f` with `search_path = pg_catalog, pg_temp` (see `pin_search_path`)
/// in a GUC nest level of its own, left abort-style: every setting changed
/// meanwhile is restored, as Postgres does after a security-restricted
/// operation (index builds, VACUUM). A plain `SET search_path` run by user
/// code inside (a table's trigger during `tenant_purge`) would otherwise
/// outlive the identity switch and decide which operators pg_tenant's next
/// statements run, with the registry owner's rights.
pub fn with_pinned_search_path<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    let guc_level = unsafe { pin_search_path() };
    let result = f();
    unsafe { pg_sys::AtEOXact_GUC(false, guc_level) };
    result
}

/// Runs `f` with `jit = off` and `work_mem` at least 64MB, in a GUC nest
/// level of its own (restored afterwards, also on error): for
/// tenant_check's catalog queries and table scans. Their estimated costs
/// reach `jit_above_cost` on large schemas while their work is index
/// lookups, where compiling costs more than it saves; and with thousands of
/// tables their sorts of catalog rows spill to disk under the default 4MB.
pub fn for_catalog_scans<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    let guc_level = unsafe { set_in_new_nest_level(c"jit", c"off") };
    // SAFETY: work_mem is the setting's C variable, in kilobytes.
    if unsafe { pg_sys::work_mem } < CATALOG_SCAN_WORK_MEM_KB {
        unsafe { set_setting(c"work_mem", c"64MB") };
    }
    let result = f();
    unsafe { pg_sys::AtEOXact_GUC(false, guc_level) };
    result
}

/// Whether the role the caller acts as may `SET ROLE` to `role` (a
/// superuser may become any role): what acting as another role must be
/// limited to, so that it gives the caller no right it does not have.
pub fn may_become(role: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups of role membership.
    unsafe {
        #[cfg(any(feature = "pg14", feature = "pg15"))]
        {
            pg_sys::is_member_of_role(pg_sys::GetUserId(), role)
        }
        #[cfg(not(any(feature = "pg14", feature = "pg15")))]
        {
            pg_sys::member_can_set_role(pg_sys::GetUserId(), role)
        }
    }
}

/// Runs `f` as `role` (tenant_check's probe role, an application role), with
/// `search_path` pinned and every setting changed meanwhile restored
/// afterwards (`with_pinned_search_path`): what the role's statements run
/// (its table's triggers) cannot change how the caller's next statements
/// resolve.
pub fn as_probe_role<R>(role: pg_sys::Oid, f: impl FnOnce() -> Result<R>) -> Result<R> {
    as_role(role, 0, || with_pinned_search_path(f))
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
    let owner = owner_of(relid).ok_or_else(|| {
        error::report(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("table with OID {} does not exist", relid.to_u32()),
            "It was dropped meanwhile; run tenant_check() to find stale registry rows.",
        )
    })?;
    let flags = (pg_sys::SECURITY_NOFORCE_RLS | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32;
    as_role(owner, flags, || with_pinned_search_path(f))
}

/// Runs `f` as the caller when it is `relid`'s owner (enabling its own
/// table: its triggers run as they always do), and as the table's owner
/// otherwise (`as_table_owner`): an operator, a superuser included, working
/// on another role's table must not run that table's code with the
/// operator's rights. A member of the owning role counts as another role:
/// before PostgreSQL 16 a role could grant itself to anyone.
pub fn as_caller_or_table_owner<R>(relid: pg_sys::Oid, f: impl FnOnce() -> Result<R>) -> Result<R> {
    let owner = owner_of(relid);
    // SAFETY: reads the current role.
    let as_caller = owner == Some(unsafe { pg_sys::GetUserId() });
    if as_caller {
        return f();
    }
    as_table_owner(relid, f)
}

/// Refuses (42809) a relation that is not an ordinary or partitioned table:
/// pg_tenant's internal entry points take tables only, so that no view, with
/// functions of its own, or foreign table is ever scanned on pg_tenant's
/// behalf.
pub fn require_table(relid: pg_sys::Oid, function: &str) -> Result<()> {
    let kind = unsafe { pg_sys::get_rel_relkind(relid) } as u8;
    if kind == pg_sys::RELKIND_RELATION || kind == pg_sys::RELKIND_PARTITIONED_TABLE {
        return refuse_temporary(relid, function);
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

/// Refuses a temporary table: it is its session's alone, and any role with
/// TEMP (PUBLIC by default) owns the ones it creates; registered, it could
/// write counters for any tenant, and its registry row would outlive it.
pub fn refuse_temporary(relid: pg_sys::Oid, function: &str) -> Result<()> {
    // SAFETY: a syscache lookup of pg_class.
    if unsafe { pg_sys::get_rel_persistence(relid) } as u8 != pg_sys::RELPERSISTENCE_TEMP {
        return Ok(());
    }
    Err(error::report(
        PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
        format!("{function}: {} is a temporary table", relation_label(relid)),
        "pg_tenant makes permanent and unlogged tables tenant-scoped; a temporary table lasts one session. Create it without TEMP.",
    ))
}

/// `schema.name` of a relation, quoted where needed, or its OID.
pub fn relation_label(relid: pg_sys::Oid) -> String {
    unsafe {
        let name = pg_sys::get_rel_name(relid);
        if name.is_null() {
            return format!("relation with OID {}", relid.to_u32());
        }
        let namespace = pg_sys::get_rel_namespace(relid);
        let name = std::ffi::CStr::from_ptr(name).to_string_lossy();
        // A temporary schema's name (pg_temp_3) depends on the session.
        if pg_sys::isAnyTempNamespace(namespace) {
            return format!("pg_temp.{}", pgrx::spi::quote_identifier(name));
        }
        let schema = pg_sys::get_namespace_name(namespace);
        if schema.is_null() {
            return pgrx::spi::quote_identifier(name);
        }
        pgrx::spi::quote_qualified_identifier(
            std::ffi::CStr::from_ptr(schema).to_string_lossy(),
            name,
        )
    }
}

/// The owner of a relation, None when it does not exist. Read from the
/// catalog cache after locking the relation (AccessShareLock, kept to the
/// end of the transaction as a SELECT keeps it; the work done as the owner
/// takes it anyway): the lock takes in every catalog change committed
/// before it, and no change of owner (which needs AccessExclusiveLock) can
/// commit while it is held. So the owner is the current one in every
/// isolation level, where an SQL read of pg_class in a REPEATABLE READ
/// transaction shows the owner as of its snapshot, and a relation cache
/// entry read without a lock may predate a change not yet taken in.
fn owner_of(relid: pg_sys::Oid) -> Option<pg_sys::Oid> {
    lookup::with_locked_class(relid, |class| class.relowner)
}

/// The owner of tenant.tenants, cached for the session (until the registry
/// epoch moves on).
fn registry_owner() -> Result<pg_sys::Oid> {
    let (cached, filled_in) = REGISTRY_OWNER.with(|cell| cell.get());
    let read_at = epoch::current();
    if cached != pg_sys::InvalidOid && filled_in == read_at {
        return Ok(cached);
    }
    let owner = owner_of(lookup::registry_table(TENANTS_TABLE)?).ok_or_else(|| {
        error::damaged(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            "the registry table tenant.tenants is missing",
        )
    })?;
    if epoch::current() == read_at {
        REGISTRY_OWNER.with(|cell| cell.set((owner, read_at)));
    }
    Ok(owner)
}

/// Runs `f` with the identity of `role` (plus `extra_flags`, e.g.
/// SECURITY_NOFORCE_RLS), so that its privileges and the policies that apply
/// to it are the ones checked. `SECURITY_LOCAL_USERID_CHANGE` forbids SET
/// ROLE meanwhile; if `f` raises, (sub)transaction abort restores the
/// previous identity.
fn as_role<R>(role: pg_sys::Oid, extra_flags: i32, f: impl FnOnce() -> Result<R>) -> Result<R> {
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
    unsafe { set_in_new_nest_level(c"search_path", c"pg_catalog, pg_temp") }
}

/// Runs `f` with the settings that decide how values print (and read back)
/// pinned to fixed ones (ISO dates, UTC, Postgres intervals, shortest exact
/// floats, hex bytea, XML content), left abort-style: a digest of values' text (`tenant_purge`'s keys)
/// is then the same whatever the session set, and can be recomputed.
pub fn with_canonical_output<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    let guc_level = unsafe {
        let level = set_in_new_nest_level(c"DateStyle", c"ISO, MDY");
        set_setting(c"TimeZone", c"UTC");
        set_setting(c"IntervalStyle", c"postgres");
        set_setting(c"extra_float_digits", c"1");
        set_setting(c"bytea_output", c"hex");
        set_setting(c"xmloption", c"content");
        level
    };
    let result = f();
    unsafe { pg_sys::AtEOXact_GUC(false, guc_level) };
    result
}

/// `for_catalog_scans`' `work_mem`, in kilobytes.
const CATALOG_SCAN_WORK_MEM_KB: i32 = 64 * 1024;

/// Sets a setting for this session in a new GUC nest level and returns the
/// level, for `AtEOXact_GUC` to restore everything set meanwhile.
unsafe fn set_in_new_nest_level(name: &std::ffi::CStr, value: &std::ffi::CStr) -> i32 {
    unsafe {
        let level = pg_sys::NewGUCNestLevel();
        set_setting(name, value);
        level
    }
}

/// Sets a setting for this session in the current GUC nest level (saved,
/// so that leaving the level restores it).
unsafe fn set_setting(name: &std::ffi::CStr, value: &std::ffi::CStr) {
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
    }
}
