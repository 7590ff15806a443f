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
/// own when it was one of its refusals), its message, and the error itself
/// (`rethrow` raises it again, detail and hint included).
pub struct Caught {
    pub sqlstate: String,
    pub message: String,
    error: CaughtError,
}

impl Caught {
    /// Raises the caught error again, as it was (after the subtransaction
    /// that failed has been rolled back).
    pub fn rethrow(self) -> ! {
        self.error.rethrow()
    }
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
            .map_err(caught_error);
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

fn caught_error(caught: CaughtError) -> Caught {
    let (sqlstate, message) = match &caught {
        CaughtError::PostgresError(e)
        | CaughtError::ErrorReport(e)
        | CaughtError::RustPanic { ereport: e, .. } => (
            sqlstate::caught_sqlstate(e.sql_error_code(), e.message()),
            e.message().to_string(),
        ),
    };
    Caught {
        sqlstate,
        message,
        error: caught,
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::{in_subtransaction, Keep};
    use pgrx::prelude::*;

    fn fails(sql: &str) -> super::Caught {
        in_subtransaction(Keep::Never, || {
            Spi::run(sql).unwrap();
            Ok(())
        })
        .err()
        .unwrap_or_else(|| panic!("{sql} did not fail"))
    }

    #[pg_test]
    fn a_refusal_caught_inside_pg_tenant_keeps_its_sqlstate_and_is_then_forgotten() {
        // The refusal is raised by the fill trigger under our own SPI call,
        // so pgrx catches it as XX000: the pending refusal gives its code.
        Spi::run("CREATE TABLE sx (id int, tenant_id uuid)").unwrap();
        Spi::run("SELECT tenant_enable('sx')").unwrap();
        let a = Spi::get_one::<String>("SELECT tenant_create('sx-a')::text")
            .unwrap()
            .unwrap();
        let b = Spi::get_one::<String>("SELECT tenant_create('sx-b')::text")
            .unwrap()
            .unwrap();
        Spi::run("CREATE ROLE sx_app").unwrap();
        Spi::run("GRANT ALL ON sx TO sx_app").unwrap();
        Spi::run(&format!(
            "SELECT set_config('app.current_tenant', '{a}', true)"
        ))
        .unwrap();
        Spi::run("SET LOCAL ROLE sx_app").unwrap();
        let caught = fails(&format!("INSERT INTO sx VALUES (1, '{b}')"));
        assert_eq!(caught.sqlstate, "PT021", "{}", caught.message);
        // An ordinary refusal afterwards, with the same standard code PT021
        // is built with (42501), keeps its own code.
        let caught = fails("SELECT tenant_suspend('sx-a')");
        assert_eq!(caught.sqlstate, "42501", "{}", caught.message);
    }
}
