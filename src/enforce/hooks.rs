//! The executor hooks pg_tenant installs (from `_PG_init`): at the start of
//! every statement, break-glass notes and records (`breakglass`), the
//! governors of the tenant the transaction acts for are put in force
//! (`governor`) and the statement's start is noted for the tenant's
//! statistics (`stats`), which its end adds to. At the end of every
//! statement and after every utility statement the governors put in force
//! are tightened again (`governor::tighten_again`). Without
//! `shared_preload_libraries` the hooks are installed when the library
//! loads, during the first statement that calls pg_tenant (and there are
//! no statistics).

use crate::error;
use pgrx::prelude::*;

static mut PREVIOUS_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREVIOUS_EXECUTOR_FINISH: pg_sys::ExecutorFinish_hook_type = None;
static mut PREVIOUS_EXECUTOR_END: pg_sys::ExecutorEnd_hook_type = None;
static mut PREVIOUS_PROCESS_UTILITY: pg_sys::ProcessUtility_hook_type = None;

pub fn init() {
    super::breakglass::init();
    super::governor::init();
    super::stats::init();
    // SAFETY: _PG_init runs once per process, before any statement uses the hooks.
    unsafe {
        PREVIOUS_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
        PREVIOUS_EXECUTOR_FINISH = pg_sys::ExecutorFinish_hook;
        pg_sys::ExecutorFinish_hook = Some(executor_finish);
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

/// Before the statement's AFTER triggers fire: a write stopped early would
/// not fire its statement triggers (`usage::refuse_unfinished`).
#[pg_guard]
unsafe extern "C-unwind" fn executor_finish(query: *mut pg_sys::QueryDesc) {
    // SAFETY: Postgres passes a valid query descriptor.
    unsafe {
        if let Err(e) = super::usage::refuse_unfinished(query) {
            error::raise(e);
        }
        match PREVIOUS_EXECUTOR_FINISH {
            Some(previous) => previous(query),
            None => pg_sys::standard_ExecutorFinish(query),
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_end(query: *mut pg_sys::QueryDesc) {
    // SAFETY: Postgres passes a valid query descriptor.
    unsafe {
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
#[pg_guard]
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
        macro_rules! run {
            ($f:expr) => {
                $f(
                    statement,
                    query,
                    read_only_tree,
                    context,
                    params,
                    environment,
                    dest,
                    completion,
                )
            };
        }
        match PREVIOUS_PROCESS_UTILITY {
            Some(previous) => run!(previous),
            None => run!(pg_sys::standard_ProcessUtility),
        }
        if !transaction_control {
            super::governor::tighten_again();
        }
    }
}
