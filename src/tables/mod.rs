//! Layer 5, tables: what the catalogs say about a table's isolation
//! (`state`) and the statements that make it what isolation needs (`plan`).

pub mod plan;
pub mod state;
