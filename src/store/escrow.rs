//! Quota escrow: what lets a tenant's writers count usage in parallel and
//! still never pass a limit. Only when the library is preloaded
//! (`shared_preload_libraries`): the table lives in shared memory.
//!
//! Without it, every writer of a tenant adds to the same counter row and
//! holds that row's lock to commit, so the tenant's writers commit one after
//! the other. With it, a tenant's counters are split over stripes (rows of
//! the same key with another `stripe`): a writer that finds another
//! transaction writing the same counter takes a stripe of its own, so
//! neither waits for the other's commit. What keeps the limit exact is an
//! entry per (database, tenant, counter) here, holding what the writers in
//! progress have added and not yet committed (their reservations):
//!
//! - each writer of a counter has a place of its own in the entry (at most
//!   16; one more waits for a place), and its place is its stripe;
//! - after adding its delta to its stripe, a writer reads the sum of the
//!   stripes with a fresh snapshot (everything committed, plus its own
//!   writes), adds the others' reservations, and only if that fits under the
//!   limit adds its own delta to the reservations, all under the table's
//!   lock;
//! - a transaction releases its reservations when it ends, in the commit or
//!   abort callback, which Postgres calls after the transaction became
//!   visible (or never will be). So a delta is always in the sum or in the
//!   reservations, and for a moment in both (never in neither): a writer
//!   can count too much, never too little. Each release bumps the entry's
//!   `releases`; a writer whose sum was read across a release reads again;
//! - a writer over the limit while other writers of the counter are in
//!   progress waits for one of them to end (on its transaction lock, so
//!   deadlocks are detected) and tries again, as it would have waited for
//!   their row lock; writers that are themselves waiting here are not
//!   waited for. Over the limit with no one left to wait for, it is
//!   refused: then the count is exact.
//!
//! Rolled-back savepoints release what they reserved; `PREPARE TRANSACTION`
//! of a transaction holding reservations is refused (its reservations would
//! outlive the session that could release them). `tenant_usage_reconcile`
//! holds a tenant's storage counter, which every counting writer joins
//! first: it waits for the writers in progress and new ones wait for it.

use super::shmem;
use crate::error;
use pgrx::pg_sys;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PgSqlErrorCode};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;

/// How many writers a counter may have at once, each on a stripe of its
/// own (its place in `Entry::holders`): stripe 0 and 15 more. One more
/// writer waits in `join` until a place is free.
const HOLDERS: usize = 16;

static CAPACITY: GucSetting<i32> = GucSetting::<i32>::new(65_536);

#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Key {
    database: u32,
    /// The counted table's OID for row counts; 0 for the tenant's storage.
    relid: u32,
    tenant: [u8; 16],
}

/// The first field is the key (dynahash copies it in); every field is read
/// and written under `LOCK` held exclusive.
#[repr(C)]
struct Entry {
    key: Key,
    /// Transactions in progress that joined this counter.
    writers: u32,
    /// The transaction of `tenant_usage_reconcile` holding the counter (0:
    /// none): new writers wait for it.
    reconciler: u32,
    /// Their reservations: deltas added to stripes, not yet committed.
    pending: i64,
    /// Releases so far (a writer's sum read across one is read again).
    releases: u64,
    /// The amounts released so far.
    released: i64,
    /// The writers' top-level transaction ids (0: a free place), each with
    /// whether it is waiting in `settle`; a writer's place is its stripe.
    holders: [Holder; HOLDERS],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Holder {
    xid: u32,
    waiting: bool,
}

/// What this transaction joined, per counter.
struct Joined {
    stripe: i32,
    /// Reservations by the subtransaction that made them.
    reserved: Vec<(pg_sys::SubTransactionId, i64)>,
}

impl Joined {
    fn total(&self) -> i64 {
        self.reserved.iter().map(|(_, amount)| amount).sum()
    }
}

thread_local! {
    static JOINED: RefCell<HashMap<Key, Joined>> = RefCell::new(HashMap::new());
    /// Whether this transaction is marked waiting in its counters (so that
    /// clearing the mark, which visits every joined counter, happens only
    /// after a wait).
    static WAITING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The counters this transaction holds for `tenant_usage_reconcile`.
    static RECONCILING: RefCell<Vec<Key>> = const { RefCell::new(Vec::new()) };
}

static mut TABLE: *mut pg_sys::HTAB = std::ptr::null_mut();
static mut LOCK: *mut pg_sys::LWLock = std::ptr::null_mut();
static mut PREVIOUS_REQUEST: Option<unsafe extern "C-unwind" fn()> = None;
static mut PREVIOUS_STARTUP: Option<unsafe extern "C-unwind" fn()> = None;
const TABLE_NAME: &std::ffi::CStr = c"pg_tenant quota escrow";
const TRANCHE: &std::ffi::CStr = c"pg_tenant_escrow";

/// Defines `pg_tenant.escrow_entries` and asks for the shared memory, when
/// the server is loading `shared_preload_libraries` (from `_PG_init`).
pub fn init() {
    // SAFETY: reads whether the server is loading shared_preload_libraries.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    GucRegistry::define_int_guc(
        c"pg_tenant.escrow_entries",
        c"pg_tenant: how many (tenant, counter) pairs transactions in progress may be counting at once (all databases together).",
        c"Default 65536 (about 13 MB of shared memory); a write that needs one more is refused until others end. Set at server start.",
        &CAPACITY,
        1024,
        16_777_216,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    // SAFETY: once, from _PG_init during shared_preload_libraries.
    unsafe {
        #[cfg(not(feature = "pg14"))]
        {
            PREVIOUS_REQUEST = pg_sys::shmem_request_hook;
            pg_sys::shmem_request_hook = Some(shmem_request);
        }
        #[cfg(feature = "pg14")]
        reserve();
        PREVIOUS_STARTUP = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(shmem_startup);
        pg_sys::RegisterXactCallback(Some(on_xact_end), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_end), std::ptr::null_mut());
    }
}

fn capacity() -> std::ffi::c_long {
    std::ffi::c_long::from(CAPACITY.get())
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
    unsafe { shmem::reserve(capacity(), std::mem::size_of::<Entry>(), TRANCHE) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn shmem_startup() {
    unsafe {
        if let Some(previous) = PREVIOUS_STARTUP {
            previous();
        }
        (TABLE, LOCK) = shmem::create(
            TABLE_NAME,
            capacity(),
            std::mem::size_of::<Key>(),
            std::mem::size_of::<Entry>(),
            TRANCHE,
        );
    }
}

/// Whether the escrow exists (the library was preloaded): counters may then
/// have several stripes.
pub fn available() -> bool {
    // SAFETY: set once at server start, before any backend exists.
    unsafe { !TABLE.is_null() }
}

fn key(tenant: &[u8; 16], relid: u32) -> Key {
    Key {
        // SAFETY: this backend's database.
        database: unsafe { pg_sys::MyDatabaseId.to_u32() },
        relid,
        tenant: *tenant,
    }
}

/// Runs `f` on the table under its lock (held exclusive).
fn locked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: the lock exists (available); `f` does not raise.
    unsafe {
        pg_sys::LWLockAcquire(LOCK, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let out = f();
        pg_sys::LWLockRelease(LOCK);
        out
    }
}

/// # Safety
/// Under `LOCK`.
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

/// Joins this transaction to the counter of `tenant` (`relid`: a table's
/// rows; 0: the tenant's storage) and returns the stripe to add to: the
/// first free place among the counter's writers (stripe 0 when no one else
/// writes it), the same for the rest of the transaction. Waits while
/// `tenant_usage_reconcile` holds the counter (`exclude_writers`), or while
/// `HOLDERS` other transactions write it.
pub fn join(tenant: &[u8; 16], relid: u32) -> error::Result<i32> {
    let key = key(tenant, relid);
    if let Some(stripe) = JOINED.with(|j| j.borrow().get(&key).map(|joined| joined.stripe)) {
        return Ok(stripe);
    }
    // SAFETY: this transaction's id (assigning one: it writes anyway).
    let xid = unsafe { pg_sys::GetTopTransactionId().into_inner() };
    loop {
        let gate = locked(|| unsafe {
            let Some(entry) = enter(&key) else {
                return Gate::Full;
            };
            if (*entry).reconciler != 0 && (*entry).reconciler != xid {
                return Gate::Wait((*entry).reconciler);
            }
            match (*entry).holders.iter().position(|h| h.xid == 0) {
                Some(place) => {
                    (*entry).holders[place] = Holder {
                        xid,
                        waiting: false,
                    };
                    (*entry).writers += 1;
                    Gate::Joined(place as i32)
                }
                None => Gate::Wait((*entry).holders[0].xid),
            }
        });
        match gate {
            Gate::Joined(stripe) => {
                JOINED.with(|j| {
                    j.borrow_mut().insert(
                        key,
                        Joined {
                            stripe,
                            reserved: Vec::new(),
                        },
                    )
                });
                return Ok(stripe);
            }
            Gate::Wait(other) => wait_for(other),
            Gate::Full => return Err(full()),
        }
    }
}

/// What `join` found.
enum Gate {
    Joined(i32),
    /// `tenant_usage_reconcile` holds the counter, or every place is taken:
    /// wait for that transaction.
    Wait(u32),
    Full,
}

/// The entry of `key`, created empty if needed; None when the table is full.
///
/// # Safety
/// Under `LOCK`.
unsafe fn enter(key: &Key) -> Option<*mut Entry> {
    unsafe {
        let mut found = false;
        let entry = pg_sys::hash_search(
            TABLE,
            (key as *const Key).cast::<c_void>(),
            pg_sys::HASHACTION::HASH_ENTER_NULL,
            &mut found,
        )
        .cast::<Entry>();
        if entry.is_null() {
            return None;
        }
        if !found {
            (&raw mut (*entry).writers).write(0);
            (&raw mut (*entry).reconciler).write(0);
            (&raw mut (*entry).pending).write(0);
            (&raw mut (*entry).releases).write(0);
            (&raw mut (*entry).released).write(0);
            (&raw mut (*entry).holders).write([Holder::default(); HOLDERS]);
        }
        Some(entry)
    }
}

/// Removes an entry nobody uses any more.
///
/// # Safety
/// Under `LOCK`.
unsafe fn forget_if_unused(key: &Key) {
    unsafe {
        let entry = find(key);
        if !entry.is_null() && (*entry).writers == 0 && (*entry).reconciler == 0 {
            pg_sys::hash_search(
                TABLE,
                (key as *const Key).cast::<c_void>(),
                pg_sys::HASHACTION::HASH_REMOVE,
                std::ptr::null_mut(),
            );
        }
    }
}

/// For `tenant_usage_reconcile`: waits until no other transaction is
/// counting the tenant's usage, and keeps new ones out (they wait in
/// `join`) until `admit_writers` (or the end of the transaction or of its
/// savepoint). Every counting writer joins the tenant's storage counter
/// first, so that entry is the tenant's gate.
pub fn exclude_writers(tenant: &[u8; 16]) -> error::Result<()> {
    let key = key(tenant, 0);
    // SAFETY: this transaction's id (assigned: reconcile writes).
    let xid = unsafe { pg_sys::GetTopTransactionId().into_inner() };
    loop {
        let gate = locked(|| unsafe {
            let Some(entry) = enter(&key) else {
                return Exclusion::Full;
            };
            if (*entry).reconciler != 0 && (*entry).reconciler != xid {
                return Exclusion::Wait((*entry).reconciler);
            }
            if (*entry).reconciler == 0 {
                (*entry).reconciler = xid;
                RECONCILING.with(|r| r.borrow_mut().push(key));
            }
            // Every writer has a place (join waits for one): a writer in
            // progress is always found here.
            match (*entry).holders.iter().find(|h| h.xid != 0 && h.xid != xid) {
                Some(other) => Exclusion::Wait(other.xid),
                None => Exclusion::Alone,
            }
        });
        match gate {
            Exclusion::Alone => return Ok(()),
            Exclusion::Wait(other) => wait_for(other),
            Exclusion::Full => return Err(full()),
        }
    }
}

/// What `exclude_writers` found.
enum Exclusion {
    Alone,
    Wait(u32),
    Full,
}

/// Opens the gates `exclude_writers` closed: the tenant's counters are
/// reconciled (its rows stay locked until this transaction ends, so a
/// writer let in now waits for them where it needs them).
pub fn admit_writers() {
    let held = RECONCILING.with(|r| std::mem::take(&mut *r.borrow_mut()));
    if held.is_empty() || !available() {
        return;
    }
    // SAFETY: this transaction's id.
    let xid = unsafe { pg_sys::GetTopTransactionIdIfAny().into_inner() };
    locked(|| unsafe {
        for key in &held {
            let entry = find(key);
            if !entry.is_null() && (*entry).reconciler == xid {
                (*entry).reconciler = 0;
            }
            forget_if_unused(key);
        }
    });
}

/// What `settle` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled {
    /// The delta fits (and is reserved); the usage it reaches when known.
    Within,
    /// Over `max`: the usage the write would reach.
    Over(i64),
}

/// After this transaction added `delta` to its stripe of a joined counter:
/// reserves it, and with a limit (`max`) first checks that the counter's
/// committed sum (`sum`, read with a fresh snapshot, includes this
/// transaction's own additions) plus the other writers' reservations stays
/// within it, waiting for other writers to end when it does not (see the
/// module doc).
pub fn settle(
    tenant: &[u8; 16],
    relid: u32,
    delta: i64,
    max: Option<i64>,
    mut sum: impl FnMut() -> error::Result<i64>,
) -> error::Result<Settled> {
    if delta <= 0 {
        return Ok(Settled::Within);
    }
    let key = key(tenant, relid);
    let mine = JOINED.with(|j| j.borrow().get(&key).map(Joined::total));
    let Some(mine) = mine else {
        return Err(error::bug("quota escrow: settle before join"));
    };
    // SAFETY: this transaction's ids.
    let (xid, subxact) = unsafe {
        (
            pg_sys::GetTopTransactionId().into_inner(),
            pg_sys::GetCurrentSubTransactionId(),
        )
    };
    let Some(max) = max else {
        locked(|| unsafe { (*find(&key)).pending += delta });
        note_reserved(&key, subxact, delta);
        return Ok(Settled::Within);
    };
    loop {
        let (before, released_before) = locked(|| unsafe {
            if WAITING.get() {
                mark_waiting(xid, false);
            }
            let entry = find(&key);
            ((*entry).releases, (*entry).released)
        });
        let committed = sum()?;
        // SAFETY: the entry exists while this transaction is joined.
        let step = locked(|| unsafe {
            let entry = find(&key);
            let others = (*entry).pending - mine;
            let usage = committed.saturating_add(others);
            if (*entry).releases != before {
                // Released while the sum was read: those amounts may be in
                // neither. Counted as well, the delta may still fit;
                // otherwise read again.
                let moved = (*entry).released - released_before;
                if usage.saturating_add(moved) <= max {
                    (*entry).pending += delta;
                    return Step::Reserved;
                }
                return Step::ReadAgain;
            }
            if usage <= max {
                (*entry).pending += delta;
                return Step::Reserved;
            }
            // Over the limit: wait for a writer in progress that is not
            // waiting itself (its end may give room back); with none, the
            // count is exact and the write is refused.
            let other = (*entry)
                .holders
                .iter()
                .find(|h| h.xid != 0 && h.xid != xid && !h.waiting)
                .map(|h| h.xid);
            match other {
                Some(other) => {
                    mark_waiting(xid, true);
                    Step::Wait(other)
                }
                None => Step::Over(usage),
            }
        });
        match step {
            Step::Reserved => {
                note_reserved(&key, subxact, delta);
                return Ok(Settled::Within);
            }
            Step::ReadAgain => continue,
            Step::Over(usage) => return Ok(Settled::Over(usage)),
            Step::Wait(other) => wait_for(other),
        }
    }
}

/// Marks this transaction as waiting in `settle` (or not) in every counter
/// it joined: a writer waiting for one counter must not be waited for on
/// another (the two would wait for each other).
///
/// # Safety
/// Under `LOCK`.
unsafe fn mark_waiting(xid: u32, waiting: bool) {
    WAITING.set(waiting);
    JOINED.with(|j| {
        for key in j.borrow().keys() {
            // SAFETY: under the lock; entries of joined counters exist.
            unsafe {
                let entry = find(key);
                if entry.is_null() {
                    continue;
                }
                if let Some(mine) = (*entry).holders.iter_mut().find(|h| h.xid == xid) {
                    mine.waiting = waiting;
                }
            }
        }
    });
}

/// One try of `settle`.
enum Step {
    Reserved,
    /// A release happened while the sum was read.
    ReadAgain,
    /// Over the limit with no other writer in progress.
    Over(i64),
    /// Over the limit while others are in progress: wait for one to end.
    Wait(u32),
}

fn note_reserved(key: &Key, subxact: pg_sys::SubTransactionId, delta: i64) {
    JOINED.with(|j| {
        if let Some(joined) = j.borrow_mut().get_mut(key) {
            joined.reserved.push((subxact, delta));
        }
    });
}

/// Waits for another writer to end, on its transaction lock (as a row lock
/// waiter would: deadlocks are detected, interrupts served).
fn wait_for(other: u32) {
    // SAFETY: waits on a transaction id that was in progress.
    unsafe {
        pg_sys::XactLockTableWait(
            other.into(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            pg_sys::XLTW_Oper::XLTW_None,
        );
    }
    pgrx::check_for_interrupts!();
}

/// Ends this transaction's part in every counter it joined or held.
fn release_all() {
    WAITING.set(false);
    let joined = JOINED.with(|j| std::mem::take(&mut *j.borrow_mut()));
    let reconciling = RECONCILING.with(|r| std::mem::take(&mut *r.borrow_mut()));
    if (joined.is_empty() && reconciling.is_empty()) || !available() {
        return;
    }
    // SAFETY: this transaction's id, if it had one (joining assigns one).
    let xid = unsafe { pg_sys::GetTopTransactionIdIfAny().into_inner() };
    locked(|| unsafe {
        for key in &reconciling {
            let entry = find(key);
            if !entry.is_null() && (*entry).reconciler == xid {
                (*entry).reconciler = 0;
            }
        }
        for (key, mine) in &joined {
            let entry = find(key);
            if entry.is_null() {
                continue;
            }
            (*entry).pending -= mine.total();
            (*entry).released += mine.total();
            (*entry).releases += 1;
            (*entry).writers = (*entry).writers.saturating_sub(1);
            if let Some(holder) = (*entry).holders.get_mut(mine.stripe as usize) {
                if holder.xid == xid {
                    *holder = Holder::default();
                }
            }
        }
        for key in joined.keys().chain(&reconciling) {
            forget_if_unused(key);
        }
    });
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact_end(event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_COMMIT
        | XACT_EVENT_ABORT
        | XACT_EVENT_PARALLEL_COMMIT
        | XACT_EVENT_PARALLEL_ABORT
        | XACT_EVENT_PREPARE => release_all(),
        XACT_EVENT_PRE_PREPARE
            if JOINED.with(|j| j.borrow().values().any(|joined| joined.total() != 0)) =>
        {
            error::report(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "a transaction that added rows or bytes counted against a tenant's quota cannot be prepared (PREPARE TRANSACTION) while pg_tenant is preloaded",
                "Commit it instead, or turn off usage counting for the table (tenant_enable(..., track_usage => false)).",
            )
            .report(pgrx::PgLogLevel::ERROR);
        }
        _ => {}
    }
}

/// A savepoint rolled back: what it (and the savepoints inside it)
/// reserved is released, as its writes are gone.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_subxact_end(
    event: pg_sys::SubXactEvent::Type,
    subxact: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut c_void,
) {
    if event != pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        return;
    }
    let released: Vec<(Key, i64)> = JOINED.with(|j| {
        j.borrow_mut()
            .iter_mut()
            .filter_map(|(key, joined)| {
                let before = joined.total();
                joined.reserved.retain(|(at, _)| *at < subxact);
                let gone = before - joined.total();
                (gone != 0).then_some((*key, gone))
            })
            .collect()
    });
    if !available() {
        return;
    }
    // A reconcile that failed in the savepoint opens the gate it held.
    admit_writers();
    if JOINED.with(|j| j.borrow().is_empty()) {
        return;
    }
    // SAFETY: this transaction's id (it joined, so it has one).
    let xid = unsafe { pg_sys::GetTopTransactionIdIfAny().into_inner() };
    locked(|| unsafe {
        // An error may have ended a wait in settle.
        if WAITING.get() {
            mark_waiting(xid, false);
        }
        for (key, gone) in &released {
            let entry = find(key);
            if !entry.is_null() {
                (*entry).pending -= gone;
                (*entry).released += gone;
                (*entry).releases += 1;
            }
        }
    });
}

fn full() -> pgrx::pg_sys::panic::ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
        format!(
            "the quota escrow is full: transactions in progress are counting {} (tenant, counter) pairs, the most pg_tenant.escrow_entries allows",
            CAPACITY.get()
        ),
        "Write fewer tenants' rows per transaction, or raise pg_tenant.escrow_entries (server start).",
    )
}
