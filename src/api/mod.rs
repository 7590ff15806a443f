//! Layer 6, the SQL-visible API: every management function, grouped by what
//! it manages. Each authorizes first (`enforce::authz`), then reads and
//! writes through the layers below.

pub mod api_requests;
pub mod audit;
pub mod context;
pub mod ddl_guard;
pub mod ddl_scope;
pub mod directory;
pub mod domains;
pub mod erasure;
pub mod errors;
pub mod governors;
pub mod lifecycle;
pub mod members;
pub mod plans;
pub mod quotas;
pub mod reconcile;
pub mod resolve;
pub mod restore;
pub mod settings;
pub mod stats;
pub mod tables;
pub mod tenants;
pub mod token;
pub mod transfer;
