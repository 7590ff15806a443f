//! The shared-memory hash tables of the library (`tenant_stats`, `escrow`),
//! only when it is preloaded: each a fixed-size dynahash with one LWLock of
//! a named tranche, sized from `_PG_init` (shmem_request_hook from 15 on)
//! and created in shmem_startup_hook.

use pgrx::pg_sys;
use std::ffi::{c_long, CStr};

/// Asks for a table of `capacity` entries of `entry_size` bytes and its lock.
///
/// # Safety
/// While the server loads `shared_preload_libraries` (or in the
/// shmem_request_hook).
pub unsafe fn reserve(capacity: c_long, entry_size: usize, tranche: &CStr) {
    unsafe {
        pg_sys::RequestAddinShmemSpace(pg_sys::hash_estimate_size(capacity, entry_size));
        pg_sys::RequestNamedLWLockTranche(tranche.as_ptr(), 1);
    }
}

/// Creates (or, in a process that starts later, attaches to) the table
/// asked for by `reserve`, and returns it with its lock. The key is the
/// entry's first `key_size` bytes, compared as bytes.
///
/// # Safety
/// In the shmem_startup_hook, after `reserve` with the same sizes.
pub unsafe fn create(
    name: &CStr,
    capacity: c_long,
    key_size: usize,
    entry_size: usize,
    tranche: &CStr,
) -> (*mut pg_sys::HTAB, *mut pg_sys::LWLock) {
    unsafe {
        // AddinShmemInitLock (lwlocknames.h: MainLWLockArray[21] in 14-18).
        let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock;
        pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut info: pg_sys::HASHCTL = std::mem::zeroed();
        info.keysize = key_size;
        info.entrysize = entry_size;
        let table = pg_sys::ShmemInitHash(
            name.as_ptr(),
            capacity,
            capacity,
            &mut info,
            (pg_sys::HASH_ELEM | pg_sys::HASH_BLOBS | pg_sys::HASH_FIXED_SIZE) as i32,
        );
        let lock = &raw mut (*pg_sys::GetNamedLWLockTranche(tranche.as_ptr())).lock;
        pg_sys::LWLockRelease(init_lock);
        (table, lock)
    }
}
