//! Per-tenant statistics: every top-level statement of a transaction that
//! acts for a tenant adds to that tenant's counters in shared memory
//! (`store::tenant_stats`): one statement, the rows it returned (SELECT) or
//! wrote (INSERT, UPDATE, DELETE, MERGE), its execution time (from
//! ExecutorStart to ExecutorEnd). Statements run inside a statement (a
//! function's queries) count as part of it. The tenant is the one the
//! transaction names when the statement ends, so `SELECT tenant_set(...)`
//! counts for the tenant it names.
//!
//! Needs `shared_preload_libraries = 'pg_tenant'`; `pg_tenant.track_tenants
//! = off` stops counting (superuser, e.g. to measure what it costs).

use crate::store::tenant_stats::{self, Sample};
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::cell::{Cell, RefCell};

static TRACK: GucSetting<bool> = GucSetting::<bool>::new(true);
static MAX_TENANTS: GucSetting<i32> = GucSetting::<i32>::new(1000);
static PERIOD: GucSetting<i32> = GucSetting::<i32>::new(60);
static SAMPLE_RATE: GucSetting<f64> = GucSetting::<f64>::new(0.1);

/// Defines the settings and, when preloaded, asks for the shared memory
/// (from `_PG_init`).
pub fn init() {
    GucRegistry::define_bool_guc(
        c"pg_tenant.track_tenants",
        c"pg_tenant: count statements, rows and time per tenant (tenant.stat_tenants).",
        c"Needs pg_tenant in shared_preload_libraries. Superuser-only.",
        &TRACK,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pg_tenant.stat_period",
        c"pg_tenant: the length of a period of tenant.stat_tenants.",
        c"Default 60s; periods are aligned to the epoch (2000-01-01 UTC). Changing it starts a new period.",
        &PERIOD,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_float_guc(
        c"pg_tenant.stat_untracked_sample_rate",
        c"pg_tenant: the share of statements of an untracked tenant that may bring it into the full table of tenant.stat_tenants.",
        c"Default 0.1; 0 keeps the tracked tenants as they are until they go idle and are reset.",
        &SAMPLE_RATE,
        0.0,
        1.0,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // SAFETY: reads whether the server is loading shared_preload_libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        // A server-start setting can only be defined while the server starts.
        GucRegistry::define_int_guc(
            c"pg_tenant.stat_max_tenants",
            c"pg_tenant: how many tenants tenant.stat_tenants tracks (all databases together).",
            c"Default 1000; a tenant beyond them enters by sampling, evicting the least active. Set at server start.",
            &MAX_TENANTS,
            10,
            1_000_000,
            GucContext::Postmaster,
            GucFlags::default(),
        );
        // SAFETY: called once from _PG_init during shared_preload_libraries.
        unsafe { tenant_stats::request(i64::from(MAX_TENANTS.get())) };
        // SAFETY: registers a callback for this process's transactions.
        unsafe { pg_sys::RegisterXactCallback(Some(forget_on_abort), std::ptr::null_mut()) };
    }
}

/// The period a moment (µs since 2000-01-01) falls in.
pub fn period_of(now: pg_sys::TimestampTz) -> i64 {
    now.div_euclid(period_us())
}

pub fn period_us() -> i64 {
    i64::from(PERIOD.get()) * 1_000_000
}

fn tracking() -> bool {
    TRACK.get() && tenant_stats::available()
}

thread_local! {
    /// The statements this backend's executor runs, outermost first: each
    /// query descriptor with the time it started.
    static RUNNING: RefCell<Vec<(usize, pg_sys::TimestampTz)>> = const { RefCell::new(Vec::new()) };
    static RANDOM: Cell<u64> = const { Cell::new(0) };
}

/// ExecutorStart (`hooks`): notes when the statement started.
pub fn at_executor_start(query: *mut pg_sys::QueryDesc) {
    if !tracking() || in_parallel_worker() {
        return;
    }
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    RUNNING.with(|r| r.borrow_mut().push((query as usize, now)));
}

/// ExecutorEnd (`hooks`): a top-level statement adds to its tenant's counters.
///
/// # Safety
/// `query` is the descriptor Postgres passed to ExecutorEnd, before it runs.
pub unsafe fn at_executor_end(query: *mut pg_sys::QueryDesc) {
    let Some((started, outermost)) = RUNNING.with(|r| {
        let mut r = r.borrow_mut();
        let at = r.iter().rposition(|(q, _)| *q == query as usize)?;
        let started = r[at].1;
        // Entries above it are statements that failed under it (a
        // savepoint caught their error): gone.
        r.truncate(at);
        Some((started, at == 0))
    }) else {
        return;
    };
    if !outermost || !tracking() {
        return;
    }
    let tenant = match super::current::accepted_tenant() {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return,
        Err(_) => {
            crate::error::sqlstate::forget();
            return;
        }
    };
    // SAFETY: the descriptor's executor state is valid until ExecutorEnd.
    let (processed, operation) = unsafe {
        let estate = (*query).estate;
        if estate.is_null() {
            return;
        }
        ((*estate).es_processed, (*query).operation)
    };
    let writes = matches!(
        operation,
        pg_sys::CmdType::CMD_INSERT | pg_sys::CmdType::CMD_UPDATE | pg_sys::CmdType::CMD_DELETE
    ) || is_merge(operation);
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    let sample = Sample {
        tenant: *tenant.as_bytes(),
        rows_returned: if writes { 0 } else { processed },
        rows_written: if writes { processed } else { 0 },
        time_us: (now - started).max(0) as u64,
        period: period_of(now),
    };
    tenant_stats::add(&sample, || chance() < SAMPLE_RATE.get());
}

/// MERGE (PostgreSQL 15 on).
fn is_merge(operation: pg_sys::CmdType::Type) -> bool {
    #[cfg(feature = "pg14")]
    {
        let _ = operation;
        false
    }
    #[cfg(not(feature = "pg14"))]
    {
        operation == pg_sys::CmdType::CMD_MERGE
    }
}

/// A number in [0, 1) (xorshift, seeded per backend).
fn chance() -> f64 {
    RANDOM.with(|state| {
        let mut x = state.get();
        if x == 0 {
            // SAFETY: reads this backend's pid and the clock.
            x = unsafe { (pg_sys::MyProcPid as u64) << 32 ^ pg_sys::GetCurrentTimestamp() as u64 }
                | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

fn in_parallel_worker() -> bool {
    // SAFETY: reads this process's worker number.
    unsafe { pg_sys::ParallelWorkerNumber >= 0 }
}

/// A transaction that failed ends its statements without ExecutorEnd.
#[pg_guard]
unsafe extern "C-unwind" fn forget_on_abort(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::XactEvent::XACT_EVENT_ABORT
        || event == pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
    {
        RUNNING.with(|r| r.borrow_mut().clear());
    }
}
