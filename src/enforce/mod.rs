//! Layer 4, enforcement: the tenant this transaction acts for, checked
//! against the registry (`current`); who may manage a tenant (`authz`); the
//! triggers on tenant-scoped tables (`fill`, `usage`, with the plumbing in
//! `trigger`); quotas and the size a row counts for (`quota`, `row_size`).

pub mod authz;
pub mod breakglass;
pub mod current;
pub mod fill;
pub mod quota;
pub mod row_size;
pub mod trigger;
pub mod usage;
