//! Layer 3, the registry as typed reads: tenants (`tenants`), member roles
//! (`roles`), effective limits (`limits`) and governors (`governors`), each cached per session by the
//! module that reads it and forgotten when the registry epoch moves on.
//! Management functions that change the registry are in `api`.

pub mod governors;
pub mod limits;
pub mod roles;
pub mod tenants;
