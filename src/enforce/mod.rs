//! Layer 4, enforcement: the tenant this transaction acts for, checked
//! against the registry (`current`); who may manage a tenant (`authz`); the
//! triggers on tenant-scoped tables (`fill`, `usage`, with the plumbing in
//! `trigger`); quotas and the size a row counts for (`quota`, `row_size`);
//! governors (`governor`); per-tenant statistics (`stats`); the executor
//! hooks (`hooks`) and break-glass records (`breakglass`).

pub mod authz;
pub mod breakglass;
pub mod current;
pub mod fill;
pub mod governor;
pub mod hooks;
pub mod quota;
pub mod row_size;
pub mod stats;
pub mod trigger;
pub mod usage;
