//! pg_tenant: multi-tenant isolation inside PostgreSQL.
//!
//! `lib.rs` only wires the modules together; each concern lives in its own:
//! - `context`: session settings (`app.current_tenant`, ...) and `current_tenant_id()`;
//! - `registry`: the tenant registry (`tenant.tenants`), `tenant_create`, tenant references;
//! - `lifecycle`: suspend, activate, delete, purge, statistics;
//! - `members`, `domains`, `settings`: the tenant's users, custom domains and settings;
//! - `resolve`: `tenant_resolve` and `tenant_set` for request routing;
//! - `quota`: plans, limits, usage counters and their triggers, API request counting;
//! - `authz`: who may manage a tenant (operators, or the tenant's own admins);
//! - `check`: `tenant_check()`, the doctor that finds known RLS leaks;
//! - `table_state`: what the catalogs say about a table's isolation;
//! - `enable`: `tenant_enable`, `tenant_enable_sql`, `tenant_disable` and their policies;
//! - `trigger`: the `tenant_set_id` fill trigger;
//! - `lookup`: registry rows read by primary key without SQL (the per-tenant hot path);
//! - `cache`: the bounded per-session caches of registry reads;
//! - `db`, `error`: SPI helpers and errors with real SQLSTATEs.
//!
//! Registry DDL is in `sql/bootstrap.sql` (before the functions) and
//! `sql/finalize.sql` (policies, grants and comments that name the functions).

// Functions return `Result<T, ErrorReport>` because pgrx raises an
// `ErrorReport` with its own SQLSTATE (pgrx downcasts the error to that exact
// type, so it cannot be boxed). Its size is pgrx's choice, not ours.
#![allow(clippy::result_large_err)]

use pgrx::prelude::*;

mod authz;
mod cache;
mod check;
mod context;
mod db;
mod domains;
mod enable;
mod error;
mod lifecycle;
mod lookup;
mod members;
mod quota;
mod registry;
mod resolve;
mod settings;
mod table_state;
mod trigger;

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
    context::init();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
