//! The executor hooks pg_tenant installs (from `_PG_init`): at the start of
//! every statement, break-glass notes and records (`breakglass`), the
//! governors of the tenant the transaction acts for are put in force
//! (`governor`) and the statement's start is noted for the tenant's
//! statistics (`stats`), which its end adds to. Before and after every run
//! of a plan, at the end of every statement and after every utility
//! statement the governors put in force are tightened again
//! (`governor::tighten_again`), and at the end of a statement a write
//! stopped early is noted (`usage::note_unfinished`). The run and utility
//! hooks are not `#[pg_guard]`: errors raised inside them keep their
//! SQLSTATE. Without
//! `shared_preload_libraries` the hooks are installed when the library
//! loads, during the first statement that calls pg_tenant (and there are
//! no statistics).

use crate::error;
use pgrx::prelude::*;

static mut PREVIOUS_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREVIOUS_EXECUTOR_RUN: pg_sys::ExecutorRun_hook_type = None;
static mut PREVIOUS_EXECUTOR_END: pg_sys::ExecutorEnd_hook_type = None;
static mut PREVIOUS_PROCESS_UTILITY: pg_sys::ProcessUtility_hook_type = None;

pub fn init() {
    super::breakglass::init();
    super::governor::init();
    super::stats::init();
    super::usage::init();
    // SAFETY: _PG_init runs once per process, before any statement uses the hooks.
    unsafe {
        PREVIOUS_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
        PREVIOUS_EXECUTOR_RUN = pg_sys::ExecutorRun_hook;
        pg_sys::ExecutorRun_hook = Some(executor_run);
        PREVIOUS_EXECUTOR_END = pg_sys::ExecutorEnd_hook;
        pg_sys::ExecutorEnd_hook = Some(executor_end);
        PREVIOUS_PROCESS_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, flags: i32) {
    // SAFETY: Postgres passes a valid query descriptor.
    unsafe {
        if let Err(e) = super::breakglass::at_executor_start(query)
            .and_then(|()| super::governor::at_statement_start())
        {
            error::raise(e);
        }
        super::stats::at_executor_start(query);
        match PREVIOUS_EXECUTOR_START {
            Some(previous) => previous(query, flags),
            None => pg_sys::standard_ExecutorStart(query, flags),
        }
    }
}

/// Before and after every run of a plan, its pieces too (a `FETCH` from a
/// cursor, an extended-protocol `Execute` whose portal ends only at the next
/// Bind or at the end of the transaction): the governors put in force are
/// tightened again, so that a value put back where no other hook sees it
/// (a PL/pgSQL assignment `x := set_config(...)`, a portal left open) is
/// not in force for the run, nor for the idle moment after it. Like
/// `process_utility`, not `#[pg_guard]` and calling the standard routine
/// through a plain declaration, so that the run's own errors (a refusal of
/// pg_tenant's row triggers) pass through with their SQLSTATE. Without a
/// governed tenant in the transaction (`governor::caps_in_force`, a read of
/// backend memory) nothing else runs.
#[cfg(not(feature = "pg18"))]
unsafe extern "C-unwind" fn executor_run(
    query: *mut pg_sys::QueryDesc,
    direction: pg_sys::ScanDirection::Type,
    count: u64,
    execute_once: bool,
) {
    // SAFETY: Postgres passes a valid query descriptor.
    unsafe {
        if super::governor::caps_in_force().is_some() {
            around_run();
        }
        let run = PREVIOUS_EXECUTOR_RUN.unwrap_or(standard_executor_run);
        run(query, direction, count, execute_once);
        if super::governor::caps_in_force().is_some() {
            around_run();
        }
    }
}

#[cfg(feature = "pg18")]
unsafe extern "C-unwind" fn executor_run(
    query: *mut pg_sys::QueryDesc,
    direction: pg_sys::ScanDirection::Type,
    count: u64,
) {
    // SAFETY: Postgres passes a valid query descriptor.
    unsafe {
        if super::governor::caps_in_force().is_some() {
            around_run();
        }
        let run = PREVIOUS_EXECUTOR_RUN.unwrap_or(standard_executor_run);
        run(query, direction, count);
        if super::governor::caps_in_force().is_some() {
            around_run();
        }
    }
}

#[pg_guard]
extern "C-unwind" fn around_run() {
    super::governor::tighten_again();
}

unsafe extern "C-unwind" {
    #[cfg(not(feature = "pg18"))]
    #[link_name = "standard_ExecutorRun"]
    fn standard_executor_run(
        query: *mut pg_sys::QueryDesc,
        direction: pg_sys::ScanDirection::Type,
        count: u64,
        execute_once: bool,
    );
    #[cfg(feature = "pg18")]
    #[link_name = "standard_ExecutorRun"]
    fn standard_executor_run(
        query: *mut pg_sys::QueryDesc,
        direction: pg_sys::ScanDirection::Type,
        count: u64,
    );
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_end(query: *mut pg_sys::QueryDesc) {
    // SAFETY: Postgres passes a valid query descriptor.
    unsafe {
        // A write stopped early fired no statement triggers: noted, and
        // refused at commit (`usage::note_unfinished`).
        super::usage::note_unfinished(query);
        super::stats::at_executor_end(query);
        match PREVIOUS_EXECUTOR_END {
            Some(previous) => previous(query),
            None => pg_sys::standard_ExecutorEnd(query),
        }
    }
    super::governor::tighten_again();
}

/// After every utility statement but transaction control (which ends the
/// transaction or its savepoint; a savepoint rolled back to is seen by the
/// governors' subtransaction callback): `SET`, `RESET` or a `FETCH` may have
/// put a looser value back.
///
/// Not `#[pg_guard]`, and the standard routine is called through a plain
/// declaration rather than pgrx's wrapper: an error raised inside the
/// utility statement (a quota refusal in an `EXECUTE`d insert, say) must
/// pass through unchanged, where pgrx would catch it and raise it again
/// without pg_tenant's own SQLSTATE (`error::sqlstate`), so that PL/pgSQL's
/// `EXCEPTION WHEN SQLSTATE 'PT031'` would not match it. This frame holds
/// nothing to drop across the call; pg_tenant's own work after it runs in a
/// guarded function.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    statement: *mut pg_sys::PlannedStmt,
    query: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    environment: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    completion: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: Postgres passes a valid planned statement and its arguments.
    unsafe {
        let transaction_control = !(*statement).utilityStmt.is_null()
            && (*(*statement).utilityStmt).type_ == pg_sys::NodeTag::T_TransactionStmt;
        let run = PREVIOUS_PROCESS_UTILITY.unwrap_or(standard_process_utility);
        run(
            statement,
            query,
            read_only_tree,
            context,
            params,
            environment,
            dest,
            completion,
        );
        if !transaction_control && super::governor::caps_in_force().is_some() {
            after_utility();
        }
    }
}

#[pg_guard]
extern "C-unwind" fn after_utility() {
    super::governor::tighten_again();
}

unsafe extern "C-unwind" {
    #[link_name = "standard_ProcessUtility"]
    fn standard_process_utility(
        statement: *mut pg_sys::PlannedStmt,
        query: *const std::ffi::c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        environment: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        completion: *mut pg_sys::QueryCompletion,
    );
}
