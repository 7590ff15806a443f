//! Layer 2, the store: how pg_tenant reaches the database. SPI helpers
//! (`spi`), whose rights the work runs with (`identity`), registry rows read
//! by primary key without SQL (`lookup`) and counter rows updated in place
//! (`counter_rows`), work in a subtransaction that catches errors
//! (`subxact`), per-tenant statistics in shared memory (`tenant_stats`), the quota escrow that lets a tenant's writers count in parallel (`escrow`), and the shared-memory tables both live in (`shmem`). Knows tables and rows, not what they mean.

pub mod autonomous;
pub mod counter_rows;
pub mod escrow;
pub mod identity;
pub mod lookup;
pub mod shmem;
pub mod spi;
pub mod srf;
pub mod subxact;
pub mod tenant_stats;
