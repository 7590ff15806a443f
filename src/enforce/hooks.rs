//! The executor hook pg_tenant installs (from `_PG_init`): at the start of
//! every statement, break-glass notes and records (`breakglass`) and the
//! governors of the tenant the transaction acts for are put in force
//! (`governor`). Without `shared_preload_libraries` the hook is installed
//! when the library loads, during the first statement that calls pg_tenant.

use crate::error;
use pgrx::prelude::*;

static mut PREVIOUS_EXECUTOR_START: pg_sys::ExecutorStart_hook_type = None;

pub fn init() {
    super::breakglass::init();
    super::governor::init();
    // SAFETY: _PG_init runs once per process, before any statement uses the hook.
    unsafe {
        PREVIOUS_EXECUTOR_START = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
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
        match PREVIOUS_EXECUTOR_START {
            Some(previous) => previous(query, flags),
            None => pg_sys::standard_ExecutorStart(query, flags),
        }
    }
}
