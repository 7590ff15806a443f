//! Work run as PL/pgSQL runs a block with an EXCEPTION clause: inside an
//! internal subtransaction whose Postgres errors are caught and rolled back
//! (tenant_check's probe; tests that expect an error).

use crate::error::Result;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use std::panic::AssertUnwindSafe;

/// Whether a subtransaction that succeeded is kept.
#[derive(PartialEq)]
pub enum Keep {
    OnSuccess,
    Never,
}

/// Runs `f` inside an internal subtransaction, the way PL/pgSQL runs a block
/// with an EXCEPTION clause: a Postgres error inside is caught and the
/// subtransaction rolled back. With `Keep::Never` it is always rolled back.
pub fn in_subtransaction<R>(
    keep: Keep,
    f: impl FnOnce() -> Result<R>,
) -> std::result::Result<Result<R>, CaughtError> {
    unsafe {
        let memory_context = pg_sys::CurrentMemoryContext;
        let resource_owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        let outcome = PgTryBuilder::new(AssertUnwindSafe(|| Ok(f())))
            .catch_others(Err)
            .execute();
        let success = matches!(outcome, Ok(Ok(_)));
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

fn code_of(code: PgSqlErrorCode) -> String {
    unpack_sqlstate(code as i32)
}

/// The five-character SQLSTATE of a packed error code.
fn unpack_sqlstate(mut packed: i32) -> String {
    let mut state = String::new();
    for _ in 0..5 {
        state.push((((packed & 0x3F) as u8) + b'0') as char);
        packed >>= 6;
    }
    state
}

/// The SQLSTATE and message of a caught error.
pub fn caught_code_and_message(caught: &CaughtError) -> (String, String) {
    match caught {
        CaughtError::PostgresError(e)
        | CaughtError::ErrorReport(e)
        | CaughtError::RustPanic { ereport: e, .. } => {
            (code_of(e.sql_error_code()), e.message().to_string())
        }
    }
}

/// The message of a caught error.
pub fn caught_message(caught: &CaughtError) -> String {
    caught_code_and_message(caught).1
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn sqlstates_unpack() {
        assert_eq!(
            code_of(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE),
            "42501"
        );
        assert_eq!(code_of(PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION), "23502");
    }
}
