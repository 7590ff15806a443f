//! The executor hooks pg_tenant installs (from `_PG_init`): at the start of
//! every statement, break-glass notes and records (`breakglass`), the
//! governors of the tenant the transaction acts for are put in force
//! (`governor`) and the statement's start is noted for the tenant's
//! statistics (`stats`), which its end adds to. Without
//! `shared_preload_libraries` the hooks are installed when the library
//! loads, during the first statement that calls pg_tenant (and there are
//! no statistics).

use crate::error;
use pgrx::prelude::*;

static mut PREVIOUS_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;
static mut PREVIOUS_EXECUTOR_END: pg_sys::ExecutorEnd_hook_type = None;

pub fn init() {
    super::breakglass::init();
    super::governor::init();
    super::stats::init();
    // SAFETY: _PG_init runs once per process, before any statement uses the hooks.
    unsafe {
        PREVIOUS_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
        PREVIOUS_EXECUTOR_END = pg_sys::ExecutorEnd_hook;
        pg_sys::ExecutorEnd_hook = Some(executor_end);
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
}
