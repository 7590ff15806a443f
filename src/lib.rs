//! pg_tenant: multi-tenant isolation inside PostgreSQL.
//!
//! `lib.rs` only wires the modules together. They form layers whose imports
//! point one way, down (CONTRIBUTING.md explains each; `scripts/layers.py`,
//! run by the test command, fails on an import that points up or a cycle):
//!
//! 0. `error`, `names`: errors with real SQLSTATEs; the names of settings,
//!    columns, policies and triggers;
//! 1. `session`: the context named for the transaction, the registry epoch,
//!    per-session caches;
//! 2. `store`: SPI, identities, primary-key lookups, counter rows;
//! 3. `registry`: tenants, roles and limits as typed, cached reads;
//! 4. `enforce`: the current tenant checked, authorization, the triggers,
//!    quotas;
//! 5. `tables`: catalog state of tables and the statements that isolate them;
//! 6. `api` (every SQL-visible management function) and `check`
//!    (`tenant_check`), which do not import each other.
//!
//! DDL is in `sql/bootstrap.sql` (before the functions), `sql/triggers.sql`
//! and `sql/finalize.sql` (policies, grants and comments that name the
//! functions).

// Functions return `Result<T, ErrorReport>` because pgrx raises an
// `ErrorReport` with its own SQLSTATE (pgrx downcasts the error to that exact
// type, so it cannot be boxed). Its size is pgrx's choice, not ours.
#![allow(clippy::result_large_err)]

use pgrx::prelude::*;

mod api;
mod check;
mod enforce;
mod error;
mod names;
mod registry;
mod session;
mod store;
mod tables;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!(
    "../sql/triggers.sql",
    name = "triggers",
    requires = ["bootstrap"]
);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    error::sqlstate::init();
    session::init();
    enforce::hooks::init();
    store::escrow::init();
    session::settings::reserve_prefix();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    /// The test server's key set for `tenant_set_token` (src/api/token.rs
    /// holds the matching secret and private key).
    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "shared_preload_libraries = 'pg_tenant'",
            concat!(
            "pg_tenant.jwt_keys = '{\"keys\": [",
            "{\"kid\": \"hs-1\", \"alg\": \"HS256\", \"kty\": \"oct\", \"k\": \"cGdfdGVuYW50IHRlc3Qgc2VjcmV0LCAzMiBieXRlcyE\"}, ",
            "{\"kid\": \"ed-1\", \"alg\": \"EdDSA\", \"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"SGTM4EtlzNXruN9y2j73APWyRYMS8qK3bzHzUhcN6ho\"}]}'"
            ),
        ]
    }
}
