//! Recorded break-glass access: every transaction in which a member of
//! `tenant_bypass` reads or writes across tenants (`app.bypass_rls = on`)
//! leaves a row in `tenant.bypass_log` — role, time, the reason the session
//! gave (`app.bypass_reason`, required), the tenant-scoped tables it
//! touched — written by a transaction of its own before the bypass opens
//! anything (`store::autonomous`), so that it stays when the transaction
//! rolls back. A bypass that cannot be recorded is refused.
//!
//! When: an ExecutorStart hook notes, while the bypass is on, the relations
//! of each statement that carry the `tenant_bypass` policy, and before the
//! statement runs writes a record the first time in a transaction and
//! whenever the statement touches tables no record of the transaction lists
//! yet (one record per transaction and set of new tables). The policy's
//! `tenant_bypass_requested()` makes sure of the same when it answers yes
//! (a direct call, or a statement the hook did not see: without preload
//! the library loads during the first statement that calls it, whose tables
//! are then read from the active portal's plans).

use crate::error::{self, Result};
use crate::names::{BYPASS_POLICY, USER_SETTING};
use crate::registry::roles;
use crate::session::settings;
use crate::store::{autonomous, identity};
use pgrx::prelude::*;
use pgrx::PgList;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

/// Characters of a reason kept in the record.
const REASON_MAX: usize = 1000;

/// What this transaction's bypass touched, and what is recorded of it.
#[derive(Default)]
struct Transaction {
    /// GetCurrentTransactionStartTimestamp of the transaction described.
    started: i64,
    touched: BTreeSet<u32>,
    recorded: BTreeSet<u32>,
    any_recorded: bool,
}

thread_local! {
    static CURRENT: RefCell<Transaction> = RefCell::new(Transaction::default());
}

/// Whether the library was loaded by a statement (not preloaded): that
/// statement's tables were not seen by the hook.
static LOADED_MID_STATEMENT: AtomicBool = AtomicBool::new(false);
static mut PREVIOUS_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;

/// Installs the ExecutorStart hook (from `_PG_init`).
pub fn init() {
    // SAFETY: _PG_init runs once per process, before any statement uses the hook.
    unsafe {
        let preloaded = pg_sys::process_shared_preload_libraries_in_progress
            || pg_sys::debug_query_string.is_null();
        LOADED_MID_STATEMENT.store(!preloaded, Ordering::Relaxed);
        PREVIOUS_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, flags: i32) {
    // SAFETY: Postgres passes a valid query descriptor.
    unsafe {
        // Recorded before the statement runs: also when it then reads no
        // row (the policy, which records too, is not asked for an empty
        // table).
        if bypass_on() && note_tables((*(*query).plannedstmt).rtable) {
            if let Err(e) = record_use() {
                error::raise(e);
            }
        }
        match PREVIOUS_EXECUTOR_START {
            Some(previous) => previous(query, flags),
            None => pg_sys::standard_ExecutorStart(query, flags),
        }
    }
}

/// Cheap first: most sessions never set app.bypass_rls.
fn bypass_on() -> bool {
    // A parallel worker runs part of a statement its leader already
    // recorded (the leader's ExecutorStart comes first).
    // SAFETY: reads this process's worker number.
    if unsafe { pg_sys::ParallelWorkerNumber } >= 0 {
        return false;
    }
    settings::bypass_set() && matches!(settings::bypass_requested(), Ok(true)) && bypass_member()
}

/// A member of `tenant_bypass` that row-level security holds back
/// otherwise: superusers and BYPASSRLS roles see every row with or without
/// the bypass (not covered, as everywhere), so their statements are not
/// uses of the bypass.
fn bypass_member() -> bool {
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

fn with_current<R>(f: impl FnOnce(&mut Transaction) -> R) -> R {
    // SAFETY: reads the transaction's start time.
    let started = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    CURRENT.with(|cell| {
        let mut current = cell.borrow_mut();
        if current.started != started {
            *current = Transaction {
                started,
                ..Transaction::default()
            };
        }
        f(&mut current)
    })
}

/// The bypass is about to open rows for a member of `tenant_bypass`: makes
/// sure this transaction's use, with every table it touched, is recorded,
/// or refuses (42501) — no reason given, or the record cannot be written.
pub fn record_use() -> Result<()> {
    if !bypass_member() {
        // A direct call by another role opens nothing.
        return Ok(());
    }
    let Some(reason) = settings::bypass_reason() else {
        return Err(error::insufficient_privilege(
            "the bypass needs a reason: app.bypass_reason is not set",
            "Say why for the transaction, e.g. SELECT set_config('app.bypass_reason', 'ticket 4711: export for the customer', true); every use of the bypass is recorded with its reason in tenant.bypass_log.",
        ));
    };
    if LOADED_MID_STATEMENT.load(Ordering::Relaxed) {
        // SAFETY: the active portal's statements, when there is one.
        unsafe { note_active_portal() };
    }
    let (first, new) = with_current(|t| {
        let new: Vec<u32> = t.touched.difference(&t.recorded).copied().collect();
        (!t.any_recorded, new)
    });
    if !first && new.is_empty() {
        return Ok(());
    }
    let mut tables: Vec<String> = new
        .iter()
        .map(|oid| identity::relation_label(pg_sys::Oid::from(*oid)))
        .collect();
    tables.sort();
    // SAFETY: plain reads of this backend's state.
    let (started, pid, role, session_role) = unsafe {
        (
            pg_sys::GetCurrentTransactionStartTimestamp(),
            pg_sys::MyProcPid,
            pg_sys::GetUserId(),
            pg_sys::GetSessionUserId(),
        )
    };
    let role_name = |oid: pg_sys::Oid| {
        // SAFETY: a catalog lookup; NULL (noerr) for a dropped role.
        let name = unsafe { pg_sys::GetUserNameFromId(oid, true) };
        if name.is_null() {
            String::new()
        } else {
            unsafe { std::ffi::CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned()
        }
    };
    let payload = serde_json::json!({
        "xact_start_us": started,
        "backend_pid": pid,
        "db_role": role_name(role),
        "session_role": role_name(session_role),
        "app_user": settings::raw(USER_SETTING),
        "reason": reason.chars().take(REASON_MAX).collect::<String>(),
        "tables": tables,
    });
    autonomous::append_bypass_record(&payload.to_string())?;
    with_current(|t| {
        t.any_recorded = true;
        t.recorded.extend(new);
    });
    Ok(())
}

/// Notes the tables of the active portal's statements (the top-level
/// statement running now).
unsafe fn note_active_portal() {
    // SAFETY: the portal Postgres runs, if any; its statements are plans.
    unsafe {
        let portal = pg_sys::ActivePortal;
        if portal.is_null() || (*portal).stmts.is_null() {
            return;
        }
        for stmt in PgList::<pg_sys::Node>::from_pg((*portal).stmts).iter_ptr() {
            if (*stmt).type_ == pg_sys::NodeTag::T_PlannedStmt {
                note_tables((*(stmt as *mut pg_sys::PlannedStmt)).rtable);
            }
        }
    }
}
