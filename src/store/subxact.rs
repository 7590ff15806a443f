//! Work run as PL/pgSQL runs a block with an EXCEPTION clause: inside an
//! internal subtransaction whose Postgres errors are caught and rolled back
//! (tenant_check's probe; tests that expect an error).

use crate::error::{sqlstate, Result};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use std::panic::AssertUnwindSafe;

/// Whether a subtransaction that succeeded is kept.
#[derive(PartialEq)]
pub enum Keep {
    OnSuccess,
    Never,
}

/// A Postgres error caught by `in_subtransaction`: its SQLSTATE (pg_tenant's
/// own when it was one of its refusals) and its message.
pub struct Caught {
    pub sqlstate: String,
    pub message: String,
}

/// Runs `f` inside an internal subtransaction, the way PL/pgSQL runs a block
/// with an EXCEPTION clause: a Postgres error inside is caught and the
/// subtransaction rolled back. With `Keep::Never` it is always rolled back.
pub fn in_subtransaction<R>(
    keep: Keep,
    f: impl FnOnce() -> Result<R>,
) -> std::result::Result<Result<R>, Caught> {
    unsafe {
        let memory_context = pg_sys::CurrentMemoryContext;
        let resource_owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        let outcome = PgTryBuilder::new(AssertUnwindSafe(|| Ok(f())))
            .catch_others(Err)
            .execute()
            .map_err(|caught| caught_error(&caught));
        let success = matches!(outcome, Ok(Ok(_)));
        if !success {
            // A refusal built inside was caught here, not raised.
            sqlstate::forget();
        }
        if success && keep == Keep::OnSuccess {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(memory_context);
        pg_sys::CurrentResourceOwner = resource_owner;
        outcome
    }
}

fn caught_error(caught: &CaughtError) -> Caught {
    match caught {
        CaughtError::PostgresError(e)
        | CaughtError::ErrorReport(e)
        | CaughtError::RustPanic { ereport: e, .. } => Caught {
            sqlstate: sqlstate::caught_sqlstate(e.sql_error_code(), e.message()),
            message: e.message().to_string(),
        },
    }
}
