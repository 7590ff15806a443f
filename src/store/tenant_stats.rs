//! Per-tenant statement statistics in shared memory: a hash table of a fixed
//! number of entries (`pg_tenant.stat_max_tenants`), one per (database,
//! tenant), each with the counters of the current period and of the one
//! before. Only when the library is preloaded (`shared_preload_libraries`):
//! shared memory is sized and created when the server starts.
//!
//! Counters are atomics, added to under the table's lock held shared; the
//! lock is taken exclusive only to add a tenant, to evict one, to start a
//! new period in an entry, and to reset. When the table is full, a tenant
//! not in it enters only with probability `sample_rate` per statement
//! (sampling, as Citus' `citus_stat_tenants` does), evicting the entry with
//! the lowest score: statements counted, halved with each period that
//! passes, so that tenants active now push out those that were.

use super::shmem;
use pgrx::pg_sys;
use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    database: u32,
    tenant: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct Counters {
    statements: AtomicU64,
    rows_returned: AtomicU64,
    rows_written: AtomicU64,
    time_us: AtomicU64,
}

impl Counters {
    fn add(&self, s: &Sample) {
        self.statements.fetch_add(1, Relaxed);
        self.rows_returned.fetch_add(s.rows_returned, Relaxed);
        self.rows_written.fetch_add(s.rows_written, Relaxed);
        self.time_us.fetch_add(s.time_us, Relaxed);
    }

    fn read(&self) -> Totals {
        Totals {
            statements: self.statements.load(Relaxed),
            rows_returned: self.rows_returned.load(Relaxed),
            rows_written: self.rows_written.load(Relaxed),
            time_us: self.time_us.load(Relaxed),
        }
    }

    fn set(&self, t: Totals) {
        self.statements.store(t.statements, Relaxed);
        self.rows_returned.store(t.rows_returned, Relaxed);
        self.rows_written.store(t.rows_written, Relaxed);
        self.time_us.store(t.time_us, Relaxed);
    }
}

/// The first field is the key (dynahash copies it in; the rest is ours to
/// initialize).
#[repr(C)]
struct Entry {
    key: Key,
    /// The period `current` counts (periods since 2000-01-01).
    period: AtomicI64,
    current: Counters,
    last: Counters,
    score: AtomicU64,
}

/// One statement, as the executor hook saw it.
pub struct Sample {
    pub tenant: [u8; 16],
    pub rows_returned: u64,
    pub rows_written: u64,
    pub time_us: u64,
    pub period: i64,
}

/// A period's totals of one tenant.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Totals {
    pub statements: u64,
    pub rows_returned: u64,
    pub rows_written: u64,
    pub time_us: u64,
}

/// What the view shows of one tenant.
pub struct TenantRow {
    pub tenant: [u8; 16],
    pub current: Totals,
    pub last: Totals,
    pub score: u64,
}

static mut TABLE: *mut pg_sys::HTAB = std::ptr::null_mut();
static mut LOCK: *mut pg_sys::LWLock = std::ptr::null_mut();
static mut CAPACITY: i64 = 0;
static mut PREVIOUS_REQUEST: Option<unsafe extern "C-unwind" fn()> = None;
static mut PREVIOUS_STARTUP: Option<unsafe extern "C-unwind" fn()> = None;
const TABLE_NAME: &std::ffi::CStr = c"pg_tenant tenant statistics";
const TRANCHE: &std::ffi::CStr = c"pg_tenant_stats";

/// Asks for the table's shared memory (from `_PG_init` while the server
/// loads `shared_preload_libraries`).
///
/// # Safety
/// Called once, from `_PG_init`, during shared_preload_libraries.
pub unsafe fn request(capacity: i64) {
    unsafe {
        CAPACITY = capacity;
        #[cfg(not(feature = "pg14"))]
        {
            PREVIOUS_REQUEST = pg_sys::shmem_request_hook;
            pg_sys::shmem_request_hook = Some(shmem_request);
        }
        #[cfg(feature = "pg14")]
        reserve();
        PREVIOUS_STARTUP = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(shmem_startup);
    }
}

#[cfg_attr(feature = "pg14", allow(dead_code))]
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn shmem_request() {
    unsafe {
        if let Some(previous) = PREVIOUS_REQUEST {
            previous();
        }
        reserve();
    }
}

unsafe fn reserve() {
    // SAFETY: called while the server sizes shared memory.
    unsafe {
        shmem::reserve(
            CAPACITY as std::ffi::c_long,
            std::mem::size_of::<Entry>(),
            TRANCHE,
        )
    };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn shmem_startup() {
    unsafe {
        if let Some(previous) = PREVIOUS_STARTUP {
            previous();
        }
        (TABLE, LOCK) = shmem::create(
            TABLE_NAME,
            CAPACITY as std::ffi::c_long,
            std::mem::size_of::<Key>(),
            std::mem::size_of::<Entry>(),
            TRANCHE,
        );
    }
}

/// Whether the table exists (the library was preloaded).
pub fn available() -> bool {
    // SAFETY: set once at server start, before any backend exists.
    unsafe { !TABLE.is_null() }
}

fn key(tenant: [u8; 16]) -> Key {
    Key {
        // SAFETY: this backend's database.
        database: unsafe { pg_sys::MyDatabaseId.to_u32() },
        tenant,
    }
}

/// Adds a statement to its tenant's entry. `enter_if_full` is asked (once)
/// whether a tenant not in a full table may take the place of the entry
/// with the lowest score.
pub fn add(sample: &Sample, enter_if_full: impl FnOnce() -> bool) {
    if !available() {
        return;
    }
    let key = key(sample.tenant);
    // SAFETY: the table and lock exist (available); entries are read and
    // changed only under the lock, counters with atomics.
    unsafe {
        pg_sys::LWLockAcquire(LOCK, pg_sys::LWLockMode::LW_SHARED);
        let entry = find(&key);
        if !entry.is_null() && (*entry).period.load(Relaxed) == sample.period {
            (*entry).current.add(sample);
            (*entry).score.fetch_add(1, Relaxed);
            pg_sys::LWLockRelease(LOCK);
            return;
        }
        let full = pg_sys::hash_get_num_entries(TABLE) >= CAPACITY as std::ffi::c_long;
        pg_sys::LWLockRelease(LOCK);
        if entry.is_null() && full && !enter_if_full() {
            return;
        }
        pg_sys::LWLockAcquire(LOCK, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut entry = find(&key);
        if entry.is_null() {
            if pg_sys::hash_get_num_entries(TABLE) >= CAPACITY as std::ffi::c_long {
                evict_lowest(sample.period);
            }
            let mut found = false;
            entry = pg_sys::hash_search(
                TABLE,
                (&raw const key).cast::<c_void>(),
                pg_sys::HASHACTION::HASH_ENTER_NULL,
                &mut found,
            )
            .cast::<Entry>();
            if entry.is_null() {
                pg_sys::LWLockRelease(LOCK);
                return;
            }
            let fresh = &raw mut (*entry).period;
            fresh.write(AtomicI64::new(sample.period));
            (&raw mut (*entry).current).write(Counters::default());
            (&raw mut (*entry).last).write(Counters::default());
            (&raw mut (*entry).score).write(AtomicU64::new(0));
        }
        roll(entry, sample.period);
        (*entry).current.add(sample);
        (*entry).score.fetch_add(1, Relaxed);
        pg_sys::LWLockRelease(LOCK);
    }
}

unsafe fn find(key: &Key) -> *mut Entry {
    unsafe {
        pg_sys::hash_search(
            TABLE,
            (key as *const Key).cast::<c_void>(),
            pg_sys::HASHACTION::HASH_FIND,
            std::ptr::null_mut(),
        )
        .cast::<Entry>()
    }
}

/// Moves an entry on to `period` (lock held exclusive).
unsafe fn roll(entry: *mut Entry, period: i64) {
    unsafe {
        let at = (*entry).period.load(Relaxed);
        if at >= period {
            return;
        }
        let last = if at + 1 == period {
            (*entry).current.read()
        } else {
            Totals::default()
        };
        (*entry).last.set(last);
        (*entry).current.set(Totals::default());
        let score = (*entry).score.load(Relaxed);
        (*entry)
            .score
            .store(score >> (period - at).min(63), Relaxed);
        (*entry).period.store(period, Relaxed);
    }
}

/// The score an entry has in `period` (halved per period since its own).
unsafe fn score_in(entry: *const Entry, period: i64) -> u64 {
    unsafe {
        let at = (*entry).period.load(Relaxed);
        (*entry).score.load(Relaxed) >> (period - at).clamp(0, 63)
    }
}

/// Removes the entry with the lowest score (lock held exclusive).
unsafe fn evict_lowest(period: i64) {
    unsafe {
        let mut lowest: Option<(u64, Key)> = None;
        each_entry(|entry| {
            let score = score_in(entry, period);
            if lowest.is_none_or(|(s, _)| score < s) {
                lowest = Some((score, (*entry).key));
            }
        });
        if let Some((_, key)) = lowest {
            pg_sys::hash_search(
                TABLE,
                (&raw const key).cast::<c_void>(),
                pg_sys::HASHACTION::HASH_REMOVE,
                std::ptr::null_mut(),
            );
        }
    }
}

unsafe fn each_entry(mut f: impl FnMut(*mut Entry)) {
    unsafe {
        let mut scan: pg_sys::HASH_SEQ_STATUS = std::mem::zeroed();
        pg_sys::hash_seq_init(&mut scan, TABLE);
        loop {
            let entry = pg_sys::hash_seq_search(&mut scan).cast::<Entry>();
            if entry.is_null() {
                break;
            }
            f(entry);
        }
    }
}

/// This database's entries as of `period`. None without the table.
pub fn snapshot(period: i64) -> Option<Vec<TenantRow>> {
    if !available() {
        return None;
    }
    let mut rows = Vec::new();
    // SAFETY: read under the lock held shared.
    unsafe {
        let database = pg_sys::MyDatabaseId.to_u32();
        pg_sys::LWLockAcquire(LOCK, pg_sys::LWLockMode::LW_SHARED);
        each_entry(|entry| {
            if (*entry).key.database != database {
                return;
            }
            let at = (*entry).period.load(Relaxed);
            let (current, last) = match period - at {
                0 => ((*entry).current.read(), (*entry).last.read()),
                1 => (Totals::default(), (*entry).current.read()),
                _ => (Totals::default(), Totals::default()),
            };
            rows.push(TenantRow {
                tenant: (*entry).key.tenant,
                current,
                last,
                score: score_in(entry, period),
            });
        });
        pg_sys::LWLockRelease(LOCK);
    }
    Some(rows)
}

/// Removes this database's entries; how many. None without the table.
pub fn reset() -> Option<u64> {
    if !available() {
        return None;
    }
    // SAFETY: changed under the lock held exclusive; entries are removed
    // after the scan that found them.
    unsafe {
        let database = pg_sys::MyDatabaseId.to_u32();
        pg_sys::LWLockAcquire(LOCK, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut keys = Vec::new();
        each_entry(|entry| {
            if (*entry).key.database == database {
                keys.push((*entry).key);
            }
        });
        for key in &keys {
            pg_sys::hash_search(
                TABLE,
                (key as *const Key).cast::<c_void>(),
                pg_sys::HASHACTION::HASH_REMOVE,
                std::ptr::null_mut(),
            );
        }
        pg_sys::LWLockRelease(LOCK);
        Some(keys.len() as u64)
    }
}
