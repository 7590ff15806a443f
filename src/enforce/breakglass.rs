//! Recorded break-glass access: every transaction in which a member of
//! `tenant_bypass` reads or writes across tenants (`app.bypass_rls = on`)
//! leaves a row in `tenant.bypass_log` — role, time, the reason the session
//! gave (`app.bypass_reason`, required), the tenant-scoped tables it
//! touched — written by a transaction of its own before the bypass opens
//! anything (`store::autonomous`), so that it stays when the transaction
//! rolls back. A bypass that cannot be recorded is refused.
//!
//! When: the ExecutorStart hook (`hooks`) notes, for every statement of a member of
//! `tenant_bypass`, the relations that carry the `tenant_bypass` policy;
//! with the bypass on it writes, before the statement runs, a record the
//! first time in a transaction (per role and reason) and whenever the
//! statement touches tables no such record lists yet. The policy's
//! `tenant_bypass_requested()` makes sure of the same whenever it answers
//! yes, so a bypass switched on in the middle of a statement (a
//! `set_config` in the same query, a cursor opened before) is recorded with
//! the tables noted when the statement started. Without preload the
//! library loads during the first statement that calls pg_tenant, which
//! the hook did not see: its tables come from the active portal's plans,
//! and a bypass is refused when they hold none (the statement was nested in
//! a DO block or function).

use crate::error::{self, Result};
use crate::names::BYPASS_POLICY;
use crate::registry::roles;
use crate::session::settings;
use crate::store::{autonomous, identity};
use pgrx::prelude::*;
use pgrx::PgList;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};

/// Characters of a reason kept in the record.
const REASON_MAX: usize = 1000;

/// What this transaction's statements touched, and what is recorded of it.
#[derive(Default)]
struct Transaction {
    /// The local transaction id of the transaction described.
    lxid: u32,
    touched: BTreeSet<u32>,
    /// Per role and reason: the tables recorded.
    recorded: BTreeMap<(u32, String), BTreeSet<u32>>,
}

thread_local! {
    static CURRENT: RefCell<Transaction> = RefCell::new(Transaction::default());
}

/// The start of the statement during which the library was loaded (0 when
/// it was preloaded): the hook did not see that statement.
static LOADED_DURING: AtomicI64 = AtomicI64::new(0);

/// Remembers whether the library was preloaded (from `_PG_init`).
pub fn init() {
    // SAFETY: _PG_init runs once per process, before any statement.
    unsafe {
        let preloaded = pg_sys::process_shared_preload_libraries_in_progress
            || pg_sys::debug_query_string.is_null();
        if !preloaded {
            LOADED_DURING.store(
                pg_sys::GetCurrentStatementStartTimestamp(),
                Ordering::Relaxed,
            );
        }
    }
}

/// Called by the ExecutorStart hook (`hooks`) for every statement: noted
/// for every statement of a bypass member, whether the bypass is on now or
/// is switched on while it runs; recorded before it runs when it is on
/// (also when it then reads no row: the policy is not asked for an empty
/// table).
///
/// # Safety
/// `query` is the descriptor Postgres passed to ExecutorStart.
pub unsafe fn at_executor_start(query: *mut pg_sys::QueryDesc) -> Result<()> {
    // SAFETY: Postgres passes a valid query descriptor.
    unsafe {
        if !in_parallel_worker()
            && bypass_member()
            && note_tables((*(*query).plannedstmt).rtable)
            && bypass_on()
        {
            return record();
        }
    }
    Ok(())
}

/// A parallel worker runs part of a statement its leader started (and
/// recorded); the policy's function is not run in workers.
fn in_parallel_worker() -> bool {
    // SAFETY: reads this process's worker number.
    unsafe { pg_sys::ParallelWorkerNumber >= 0 }
}

/// Cheap first: most sessions never set app.bypass_rls.
fn bypass_on() -> bool {
    settings::bypass_set() && matches!(settings::bypass_requested(), Ok(true))
}

/// A member of `tenant_bypass` that row-level security holds back
/// otherwise: superusers and BYPASSRLS roles see every row with or without
/// the bypass (not covered, as everywhere), so their statements are not
/// uses of the bypass.
pub fn bypass_member() -> bool {
    // SAFETY: plain catalog checks of the current role.
    roles::has_bypass_role()
        && unsafe { !pg_sys::superuser() && !pg_sys::has_bypassrls_privilege(pg_sys::GetUserId()) }
}

/// Notes the relations of a range table that carry the bypass policy;
/// whether there were any.
unsafe fn note_tables(rtable: *mut pg_sys::List) -> bool {
    let mut found = Vec::new();
    // SAFETY: a plan's range table, of RangeTblEntry nodes.
    unsafe {
        for entry in PgList::<pg_sys::RangeTblEntry>::from_pg(rtable).iter_ptr() {
            if (*entry).rtekind == pg_sys::RTEKind::RTE_RELATION
                && has_bypass_policy((*entry).relid)
            {
                found.push((*entry).relid.to_u32());
            }
        }
    }
    if found.is_empty() {
        return false;
    }
    with_current(|t| t.touched.extend(found));
    true
}

/// Whether the relation's row-level security includes the bypass policy.
unsafe fn has_bypass_policy(relid: pg_sys::Oid) -> bool {
    // SAFETY: the planner locked the relations of its range table.
    unsafe {
        let relation = pg_sys::RelationIdGetRelation(relid);
        if relation.is_null() {
            return false;
        }
        let mut found = false;
        let security = (*relation).rd_rsdesc;
        if !security.is_null() {
            for policy in
                PgList::<pg_sys::RowSecurityPolicy>::from_pg((*security).policies).iter_ptr()
            {
                let name = std::ffi::CStr::from_ptr((*policy).policy_name);
                found |= name.to_bytes() == BYPASS_POLICY.as_bytes();
            }
        }
        pg_sys::RelationClose(relation);
        found
    }
}

/// This transaction's local id (the second half of its virtual id).
pub fn local_xact_id() -> u32 {
    virtual_xact().1
}

/// This backend's virtual transaction id: process number and local id.
fn virtual_xact() -> (i32, u32) {
    // SAFETY: this backend's own PGPROC.
    unsafe {
        let proc_ = pg_sys::MyProc;
        #[cfg(any(feature = "pg17", feature = "pg18"))]
        {
            ((*proc_).vxid.procNumber, (*proc_).vxid.lxid)
        }
        #[cfg(not(any(feature = "pg17", feature = "pg18")))]
        {
            ((*proc_).backendId, (*proc_).lxid)
        }
    }
}

fn with_current<R>(f: impl FnOnce(&mut Transaction) -> R) -> R {
    let (_, lxid) = virtual_xact();
    CURRENT.with(|cell| {
        let mut current = cell.borrow_mut();
        if current.lxid != lxid {
            *current = Transaction {
                lxid,
                ..Transaction::default()
            };
        }
        f(&mut current)
    })
}

/// The bypass is about to open rows for a member of `tenant_bypass`: makes
/// sure this transaction's use, with every table it touched, is recorded
/// for the current role and reason, or refuses (42501): no reason given,
/// or the record cannot be written; 55000 for a statement whose tables
/// could not be noted.
pub fn record_use() -> Result<()> {
    if !bypass_member() {
        return Ok(());
    }
    record()
}

/// `record_use` for a caller that knows it acts for a bypass member.
fn record() -> Result<()> {
    let Some(reason) = settings::bypass_reason()? else {
        return Err(error::insufficient_privilege(
            "the bypass needs a reason: app.bypass_reason is not set",
            "Say why for the transaction, e.g. SELECT set_config('app.bypass_reason', 'ticket 4711: export for the customer', true); every use of the bypass is recorded with its reason in tenant.bypass_log.",
        ));
    };
    let reason: String = reason.chars().take(REASON_MAX).collect();
    // SAFETY: reads the statement's start.
    let loading = LOADED_DURING.load(Ordering::Relaxed);
    if loading != 0 && loading == unsafe { pg_sys::GetCurrentStatementStartTimestamp() } {
        // SAFETY: the active portal's statements, when there is one.
        if !unsafe { note_active_portal() } {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                "the library was loaded by this statement, so it could not note which tables the bypass touches; the bypass is refused",
                "Preload pg_tenant (shared_preload_libraries or session_preload_libraries), or call any pg_tenant function earlier in the session, e.g. SELECT current_tenant_id().",
            ));
        }
    }
    // SAFETY: reads the current role.
    let role = unsafe { pg_sys::GetUserId() };
    let key = (role.to_u32(), reason.clone());
    let (first, new) = with_current(|t| match t.recorded.get(&key) {
        Some(recorded) => (
            false,
            t.touched.difference(recorded).copied().collect::<Vec<_>>(),
        ),
        None => (true, t.touched.iter().copied().collect()),
    });
    if !first && new.is_empty() {
        return Ok(());
    }
    let mut tables: Vec<String> = new
        .iter()
        .map(|oid| identity::relation_label(pg_sys::Oid::from(*oid)))
        .collect();
    tables.sort();
    let (proc_number, lxid) = virtual_xact();
    // SAFETY: plain reads of this backend's state.
    let (started, pid, session_role) = unsafe {
        (
            pg_sys::GetCurrentTransactionStartTimestamp(),
            pg_sys::MyProcPid,
            pg_sys::GetSessionUserId(),
        )
    };
    let payload = serde_json::json!({
        "xact_start_us": started,
        "vxid": format!("{proc_number}/{lxid}"),
        "backend_pid": pid,
        "db_role": role_name(role),
        "session_role": role_name(session_role),
        // The acting user as pg_tenant checks it everywhere (a UUID, proven
        // when a token or proxy is required).
        "app_user": super::current::user()?.map(|u| u.to_string()),
        "reason": reason,
        "tables": tables,
    });
    autonomous::append_bypass_record(&payload.to_string())?;
    with_current(|t| t.recorded.entry(key).or_default().extend(new));
    Ok(())
}

fn role_name(oid: pg_sys::Oid) -> String {
    // SAFETY: a catalog lookup; NULL (noerr) for a dropped role.
    let name = unsafe { pg_sys::GetUserNameFromId(oid, true) };
    if name.is_null() {
        return String::new();
    }
    // SAFETY: a palloc'd C string Postgres returned.
    unsafe { std::ffi::CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// Notes the tables of the active portal's statements (the top-level
/// statement running now); whether any carries the bypass policy.
unsafe fn note_active_portal() -> bool {
    // SAFETY: the portal Postgres runs, if any; its statements are plans.
    unsafe {
        let portal = pg_sys::ActivePortal;
        if portal.is_null() || (*portal).stmts.is_null() {
            return false;
        }
        let mut found = false;
        for stmt in PgList::<pg_sys::Node>::from_pg((*portal).stmts).iter_ptr() {
            if (*stmt).type_ == pg_sys::NodeTag::T_PlannedStmt {
                found |= note_tables((*(stmt as *mut pg_sys::PlannedStmt)).rtable);
            }
        }
        found
    }
}
