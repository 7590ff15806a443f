//! The registry epoch: one number that every per-session cache of registry
//! reads compares with the epoch it was filled in.
//!
//! The session keeps tenant records, member roles, limits and the registry
//! owner across transactions, so that a pooled connection serving many
//! tenants reads the registry once per tenant, not once per transaction. The
//! epoch moves on, and every such entry counts as missing, when:
//! - any session changes tenant.tenants, tenant.members, the plans or the
//!   limits: their statement triggers queue a relcache invalidation of
//!   tenant.tenants (`registry_changed`), which every session processes at
//!   its next transaction start or lock and hands to the one relcache
//!   callback here;
//! - a (sub)transaction that changed the registry aborts, since a cache may
//!   hold what its rolled-back changes produced.
//!
//! Each cache is owned by the module that fills it (`session::cache`'s
//! `SessionCache::following_registry`); nothing here knows the caches, so the
//! lowest layer calls no one.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

// Plain statics rather than thread_local!: a backend is one thread, and in a
// shared library every thread_local! access is a call to __tls_get_addr,
// which the end-of-transaction callback would pay on every transaction.
// Relaxed atomics are enough: nothing else is ordered by them.

/// The current epoch; starts at 1 so that 0 can mean "never filled".
static EPOCH: AtomicU64 = AtomicU64::new(1);
/// The OID of tenant.tenants, remembered for the relcache callback (which
/// must not read the catalogs); 0 until the store resolves it.
static WATCHED: AtomicU32 = AtomicU32::new(0);
/// Whether the current transaction changed the registry. Only then can an
/// abort leave the caches holding something that never committed; other
/// aborts (an application's error, a refused quota) keep them.
static CHANGED_REGISTRY: AtomicBool = AtomicBool::new(false);
/// Whether this transaction read the registry with a snapshot that may
/// predate a change it already took in (`store::lookup` in a parallel
/// leader under REPEATABLE READ or SERIALIZABLE): until it ends, nothing
/// read is remembered.
static STALE_READS: AtomicBool = AtomicBool::new(false);

/// The registry tables' OIDs that `store::lookup` remembers, and their own
/// epoch: an invalidation of any of them (a DROP, or an extension update
/// that recreates one) makes the remembered OIDs count as missing, without
/// moving the registry epoch (a VACUUM of a counter table invalidates it too,
/// and must not empty the registry caches).
static TABLES: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];
/// Set when more registry tables were remembered than `TABLES` holds: then
/// every invalidation moves the tables' epoch.
static TABLES_OVERFLOW: AtomicBool = AtomicBool::new(false);
static TABLES_EPOCH: AtomicU64 = AtomicU64::new(1);

/// The epoch of the remembered registry table OIDs.
#[inline]
pub fn tables_epoch() -> u64 {
    TABLES_EPOCH.load(Ordering::Relaxed)
}

/// Remembers that the OID of a registry table is cached, so that its
/// invalidation moves `tables_epoch` on.
pub fn watch_table(relid: pgrx::pg_sys::Oid) {
    let relid = relid.to_u32();
    for slot in &TABLES {
        match slot.load(Ordering::Relaxed) {
            0 => {
                slot.store(relid, Ordering::Relaxed);
                return;
            }
            held if held == relid => return,
            _ => {}
        }
    }
    TABLES_OVERFLOW.store(true, Ordering::Relaxed);
}

/// The epoch caches compare their entries with.
#[inline]
pub fn current() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

/// Makes every cached registry read of this session count as missing.
pub fn bump() {
    EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// Notes that this transaction read the registry with a snapshot that may be
/// older than the changes it took in: nothing read from now on until it
/// ends is remembered (see `may_remember`).
pub fn note_stale_read() {
    STALE_READS.store(true, Ordering::Relaxed);
}

/// Whether what this transaction reads now may be remembered across
/// statements and transactions (see `note_stale_read`).
#[inline]
pub fn may_remember() -> bool {
    !STALE_READS.load(Ordering::Relaxed)
}

/// Remembers the OID of tenant.tenants, whose relcache invalidation moves the
/// epoch on (see the module doc).
pub fn watch(registry: pgrx::pg_sys::Oid) {
    WATCHED.store(registry.to_u32(), Ordering::Relaxed);
}

/// The registry changed in this transaction: queues an invalidation of
/// tenant.tenants for every session (delivered at commit; this session gets
/// it at the end of the current command) and moves this session's epoch on.
pub fn registry_changed(registry: pgrx::pg_sys::Oid) {
    CHANGED_REGISTRY.store(true, Ordering::Relaxed);
    watch(registry);
    unsafe { pgrx::pg_sys::CacheInvalidateRelcacheByRelid(registry) };
    bump();
}

/// Registers the relcache and transaction callbacks; called from `_PG_init`.
pub fn register_callbacks() {
    use pgrx::pg_sys;
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_end), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_end), std::ptr::null_mut());
        pg_sys::CacheRegisterRelcacheCallback(
            Some(on_relcache_invalidation),
            pg_sys::Datum::from(0),
        );
    }
}

unsafe extern "C-unwind" fn on_relcache_invalidation(
    _arg: pgrx::pg_sys::Datum,
    relid: pgrx::pg_sys::Oid,
) {
    let (relid, watched) = (relid.to_u32(), WATCHED.load(Ordering::Relaxed));
    // InvalidOid: every relation was invalidated (e.g. after a cache reset).
    if relid == 0 || watched == 0 || relid == watched {
        bump();
    }
    if relid == 0
        || TABLES_OVERFLOW.load(Ordering::Relaxed)
        || TABLES
            .iter()
            .any(|slot| slot.load(Ordering::Relaxed) == relid)
    {
        TABLES_EPOCH.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe extern "C-unwind" fn on_xact_end(event: pgrx::pg_sys::XactEvent::Type, _arg: *mut c_void) {
    use pgrx::pg_sys::XactEvent::*;
    let aborted = event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT;
    let ended = aborted
        || event == XACT_EVENT_COMMIT
        || event == XACT_EVENT_PARALLEL_COMMIT
        || event == XACT_EVENT_PREPARE;
    if aborted && CHANGED_REGISTRY.load(Ordering::Relaxed) {
        bump();
    }
    if ended {
        CHANGED_REGISTRY.store(false, Ordering::Relaxed);
        STALE_READS.store(false, Ordering::Relaxed);
        super::settings::transaction_ended();
        // A refusal of this transaction was reported (or never raised): no
        // later error may take its code.
        crate::error::sqlstate::forget();
    }
}

unsafe extern "C-unwind" fn on_subxact_end(
    event: pgrx::pg_sys::SubXactEvent::Type,
    _sub: pgrx::pg_sys::SubTransactionId,
    _parent: pgrx::pg_sys::SubTransactionId,
    _arg: *mut c_void,
) {
    if event == pgrx::pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB
        && CHANGED_REGISTRY.load(Ordering::Relaxed)
    {
        bump();
    }
}

#[cfg(test)]
mod unit_tests {
    #[test]
    fn bumping_moves_the_epoch_on() {
        let before = super::current();
        super::bump();
        assert!(super::current() > before);
        assert_ne!(super::current(), 0, "0 means never filled");
    }
}
