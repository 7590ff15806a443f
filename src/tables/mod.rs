//! Layer 5, tables: what the catalogs say about a table's isolation
//! (`state`), the statements that make it what isolation needs (`plan`),
//! the tenant RLS of other tools that `tenant_enable` replaces (`adopt`),
//! and a reader of Postgres' stored expression trees (`node_tree`).

pub mod adopt;
pub mod catalog;
pub mod node_tree;
pub mod plan;
pub mod state;
