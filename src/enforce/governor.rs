//! Governors applied: whenever pg_tenant reads the tenant a transaction acts
//! for (`current::tenant`, on every statement that reads tenant data, and,
//! with the library preloaded, at the start of every statement), the
//! tenant's governors (`registry::governors`) are put in force for the rest
//! of the transaction:
//!
//! - `statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`
//!   and `work_mem` are set as by `SET LOCAL` when the session's value is
//!   looser (0 or larger); a stricter value of the session's stays. The
//!   statement running at that moment gets its statement timeout armed from
//!   then. The caps put in force are remembered for the transaction, and a
//!   value the session puts back is tightened again at once: after every
//!   utility statement (`SET`, `RESET`, `SET LOCAL ... = 0`), at the end of
//!   every statement (`set_config`, a function's SET clause ending, a
//!   PL/pgSQL exception block rolling back) and when a savepoint is rolled
//!   back to. So no statement, `FETCH` from a cursor included, and no idle
//!   moment of the transaction sees a looser value. A `work_mem` governor
//!   also holds `hash_mem_multiplier` at PostgreSQL's default, which hash
//!   nodes multiply `work_mem` by.
//! - `max_transactions`: the transaction takes one of the tenant's slots, a
//!   transaction-level lock in the lock manager (`pg_locks`: an advisory lock
//!   of class `SLOT_CLASS`, so never one an application takes), held by the
//!   top-level transaction until it ends, whatever savepoint named the
//!   tenant. When every slot is held, it waits up to `pg_tenant.governor_wait`
//!   for one to be released, then is refused (PT041).
//! - In a parallel query the settings cannot change. The leader put them in
//!   force before the query started when the library was loaded by then
//!   (always when preloaded); when it was not (the first statement of a
//!   backend that loads pg_tenant is a parallel one), the statement is
//!   refused rather than run ungoverned.

use crate::error::{self, Refusal, Result};
use crate::registry::governors::{self, Effective, Governor};
use crate::session::settings;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PgSqlErrorCode, Uuid};
use std::cell::RefCell;
use std::ffi::CStr;

/// `locktag_field4` of the slot locks: user advisory locks use 1 (one
/// bigint key) and 2 (two integer keys).
pub const SLOT_CLASS: u16 = 0x5054;

/// How long a transaction past a tenant's `max_transactions` waits (ms).
static WAIT: GucSetting<i32> = GucSetting::<i32>::new(5000);
/// How often a waiting transaction tries the slots again (ms).
const POLL_MS: i64 = 5;

/// Defines `pg_tenant.governor_wait` (from `_PG_init`).
pub fn init() {
    GucRegistry::define_int_guc(
        c"pg_tenant.governor_wait",
        c"pg_tenant: how long a transaction past its tenant's max_transactions waits for one to end.",
        c"Default 5s; 0 refuses at once (PT041). Superuser-only.",
        &WAIT,
        0,
        600_000,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    // SAFETY: _PG_init runs once per process.
    unsafe {
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
    }
}

/// `PREPARE TRANSACTION` of a transaction holding one of a tenant's
/// `max_transactions` slots is refused: the slot (a transaction-level lock)
/// would pass to the prepared transaction, which outlives the session and
/// every idle timeout, and keep the tenant's slot until an operator ran
/// `COMMIT/ROLLBACK PREPARED`.
#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    if event != pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE {
        return;
    }
    let lxid = super::breakglass::local_xact_id();
    if HOLDING.with(|h| {
        let h = h.borrow();
        h.0 == lxid && !h.1.is_empty()
    }) {
        crate::error::report(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "a transaction that holds one of a tenant's max_transactions slots cannot be prepared (PREPARE TRANSACTION): the slot would stay taken after the session ended",
            "Commit the transaction instead, or remove the tenant's max_transactions governor (tenant_governor_set(..., 'max_transactions', NULL)).",
        )
        .report(pgrx::PgLogLevel::ERROR);
    }
}

/// A savepoint rolled back to starts again as a new subtransaction, after
/// its settings were put back: tighten them again there.
#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _subxact: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_START_SUB {
        tighten_again();
    }
}

thread_local! {
    /// The tenants whose slot this transaction holds (by local transaction id).
    static HOLDING: RefCell<(u32, Vec<[u8; 16]>)> = const { RefCell::new((0, Vec::new())) };
    /// The caps in force in this transaction (see `InForce`).
    static IN_FORCE: RefCell<InForce> = const { RefCell::new(InForce::none()) };
}

/// What this transaction (by local transaction id) has put in force: the
/// tenants whose governors were applied and, per setting of `settings()`,
/// the tightest cap among them.
struct InForce {
    lxid: u32,
    tenants: Vec<[u8; 16]>,
    caps: [Option<i64>; 4],
}

impl InForce {
    const fn none() -> Self {
        InForce {
            lxid: 0,
            tenants: Vec::new(),
            caps: [None; 4],
        }
    }
}

/// PostgreSQL's default `hash_mem_multiplier` (2 from 15 on, 1 in 14).
#[cfg(feature = "pg14")]
const DEFAULT_HASH_MEM_MULTIPLIER: f64 = 1.0;
#[cfg(not(feature = "pg14"))]
const DEFAULT_HASH_MEM_MULTIPLIER: f64 = 2.0;

/// Puts `tenant`'s governors in force for this transaction.
pub fn apply(tenant: Uuid) -> Result<()> {
    // SAFETY: reads backend-local state.
    if unsafe { pg_sys::IsInParallelMode() } {
        return in_parallel_mode(tenant);
    }
    let Some(effective) = governors::of_tenant(tenant)? else {
        return Ok(());
    };
    if effective.governors.is_empty() {
        return Ok(());
    }
    let caps = caps_of(&effective);
    remember(tenant, caps);
    tighten(&caps, true);
    if let Some(max) = effective.governors.get(Governor::MaxTransactions) {
        take_slot(tenant, max, &effective)?;
    }
    Ok(())
}

/// Settings cannot change during a parallel operation. A worker has the
/// leader's; the leader put the tenant's governors in force before the
/// operation started, unless the library was not loaded by then: then the
/// statement is refused, not run ungoverned.
fn in_parallel_mode(tenant: Uuid) -> Result<()> {
    // SAFETY: reads backend-local state.
    if unsafe { pg_sys::ParallelWorkerNumber } >= 0 {
        return Ok(());
    }
    let lxid = super::breakglass::local_xact_id();
    let key = *tenant.as_bytes();
    if IN_FORCE.with(|f| {
        let f = f.borrow();
        f.lxid == lxid && f.tenants.contains(&key)
    }) {
        return Ok(());
    }
    match governors::of_tenant(tenant)? {
        Some(effective) if !effective.governors.is_empty() => Err(error::report(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "the governors of tenant \"{}\" could not be put in force for this parallel query: pg_tenant was loaded during it",
                effective.slug
            ),
            "Run the statement again (from now on this session puts governors in force before each statement starts), or load pg_tenant with every session: shared_preload_libraries or session_preload_libraries = 'pg_tenant'.",
        )),
        _ => Ok(()),
    }
}

/// The caps of `effective`, per setting of `settings()`.
fn caps_of(effective: &Effective) -> [Option<i64>; 4] {
    settings().map(|(governor, _, _)| effective.governors.get(governor))
}

/// Adds `tenant`'s caps to what this transaction has in force.
fn remember(tenant: Uuid, caps: [Option<i64>; 4]) {
    let lxid = super::breakglass::local_xact_id();
    let key = *tenant.as_bytes();
    IN_FORCE.with(|f| {
        let mut f = f.borrow_mut();
        if f.lxid != lxid {
            *f = InForce::none();
            f.lxid = lxid;
        }
        if !f.tenants.contains(&key) {
            f.tenants.push(key);
        }
        for (held, cap) in f.caps.iter_mut().zip(caps) {
            *held = match (*held, cap) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    });
}

/// The caps this transaction put in force, if it named a governed tenant.
/// Reads backend-local memory only (no call into Postgres, nothing that can
/// raise): the hooks ask it before every plan run and utility statement,
/// and cross into guarded code only when it says so.
pub fn caps_in_force() -> Option<[Option<i64>; 4]> {
    let lxid = super::breakglass::local_xact_id();
    IN_FORCE.with(|f| {
        let f = f.try_borrow().ok()?;
        (f.lxid == lxid && !f.tenants.is_empty()).then_some(f.caps)
    })
}

/// Tightens again what this transaction put in force, when the session
/// may have put a looser value back: after a utility statement, at the end
/// of a statement, when a savepoint was rolled back to (`hooks`). Nothing
/// when the transaction named no governed tenant, is failed, or is in a
/// parallel operation.
pub fn tighten_again() {
    let Some(caps) = caps_in_force() else {
        return;
    };
    // SAFETY: reads backend-local transaction state.
    let usable = unsafe {
        pg_sys::IsTransactionState()
            && !pg_sys::IsAbortedTransactionBlockState()
            && !pg_sys::IsInParallelMode()
    };
    if usable {
        tighten(&caps, false);
    }
}

/// The settings, their current value (a C global of Postgres) and the
/// governor that caps each.
fn settings() -> [(Governor, &'static CStr, i32); 4] {
    // SAFETY: reads Postgres' own setting variables.
    unsafe {
        [
            (
                Governor::StatementTimeout,
                c"statement_timeout",
                pg_sys::StatementTimeout,
            ),
            (Governor::LockTimeout, c"lock_timeout", pg_sys::LockTimeout),
            (
                Governor::IdleInTransactionSessionTimeout,
                c"idle_in_transaction_session_timeout",
                pg_sys::IdleInTransactionSessionTimeout,
            ),
            (Governor::WorkMem, c"work_mem", pg_sys::work_mem),
        ]
    }
}

/// Sets each setting that is looser than its cap to the cap, as SET LOCAL;
/// `running`: a statement is running that should get the statement
/// timeout from now on.
fn tighten(caps: &[Option<i64>; 4], running: bool) {
    for ((governor, name, current), cap) in settings().into_iter().zip(caps) {
        let Some(cap) = *cap else {
            continue;
        };
        let looser = match governor {
            // 0 switches a timeout off.
            Governor::WorkMem => i64::from(current) > cap,
            _ => current == 0 || i64::from(current) > cap,
        };
        if looser {
            settings::set_local(name, &cap.to_string());
            if running && governor == Governor::StatementTimeout {
                arm_statement_timeout(cap);
            }
        }
        // SAFETY: reads Postgres' own setting variable.
        if governor == Governor::WorkMem
            && unsafe { pg_sys::hash_mem_multiplier } > DEFAULT_HASH_MEM_MULTIPLIER
        {
            settings::set_local(
                c"hash_mem_multiplier",
                &DEFAULT_HASH_MEM_MULTIPLIER.to_string(),
            );
        }
    }
}

/// The statement running now gets the governor's timeout from now on
/// (Postgres arms the setting's timer when each statement starts).
fn arm_statement_timeout(cap: i64) {
    // SAFETY: the timeout module is set up in every backend; a timer that
    // would fire later is moved earlier, one that would fire sooner stays.
    unsafe {
        let deadline = pg_sys::GetCurrentTimestamp() + cap * 1000;
        if get_timeout_active(STATEMENT_TIMEOUT)
            && get_timeout_finish_time(STATEMENT_TIMEOUT) <= deadline
        {
            return;
        }
        enable_timeout_after(STATEMENT_TIMEOUT, cap as i32);
    }
}

/// `TimeoutId` of utils/timeout.h (not in pgrx's bindings): the same
/// position, 3, in PostgreSQL 14 to 18.
const STATEMENT_TIMEOUT: std::ffi::c_int = 3;

unsafe extern "C-unwind" {
    fn enable_timeout_after(id: std::ffi::c_int, delay_ms: std::ffi::c_int);
    fn get_timeout_active(id: std::ffi::c_int) -> bool;
    fn get_timeout_finish_time(id: std::ffi::c_int) -> pg_sys::TimestampTz;
}

/// Takes one of the tenant's `max` slots for this transaction, waiting up to
/// `pg_tenant.governor_wait` when all are held.
fn take_slot(tenant: Uuid, max: i64, effective: &Effective) -> Result<()> {
    let lxid = super::breakglass::local_xact_id();
    let key = *tenant.as_bytes();
    let held = HOLDING.with(|h| {
        let h = h.borrow();
        h.0 == lxid && h.1.contains(&key)
    });
    if held {
        return Ok(());
    }
    let max = max as u32;
    // Sessions start at different slots so that they rarely try a held one.
    // SAFETY: reads this backend's pid.
    let start = unsafe { pg_sys::MyProcPid } as u32 % max;
    // SAFETY: reads the clock.
    let deadline = unsafe { pg_sys::GetCurrentTimestamp() } + i64::from(WAIT.get()) * 1000;
    loop {
        if (0..max).any(|i| try_slot(&key, (start + i) % max)) {
            HOLDING.with(|h| {
                let mut h = h.borrow_mut();
                if h.0 != lxid {
                    *h = (lxid, Vec::new());
                }
                h.1.push(key);
            });
            return Ok(());
        }
        // SAFETY: reads the clock; waits on this backend's latch, which
        // interrupts (cancel, statement_timeout, shutdown) set.
        unsafe {
            if pg_sys::GetCurrentTimestamp() >= deadline {
                return Err(too_many(effective, max));
            }
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                POLL_MS as std::ffi::c_long,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pgrx::check_for_interrupts!();
    }
}

/// Tries to lock slot `slot` of the tenant without waiting, for the
/// top-level transaction (a lock taken under a savepoint's resource owner
/// would be released if the savepoint rolled back).
fn try_slot(tenant: &[u8; 16], slot: u32) -> bool {
    let (key1, high) = slot_key(tenant);
    let key2 = (high << 16) | (slot & 0xFFFF);
    // SAFETY: a lock tag filled as SET_LOCKTAG_ADVISORY does; the resource
    // owner is swapped only around the call.
    unsafe {
        let tag = pg_sys::LOCKTAG {
            locktag_field1: pg_sys::MyDatabaseId.to_u32(),
            locktag_field2: key1,
            locktag_field3: key2,
            locktag_field4: SLOT_CLASS,
            locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
            locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
        };
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::CurrentResourceOwner = pg_sys::TopTransactionResourceOwner;
        let result = pg_sys::LockAcquire(&tag, pg_sys::ExclusiveLock as i32, false, true);
        pg_sys::CurrentResourceOwner = owner;
        result != pg_sys::LockAcquireResult::LOCKACQUIRE_NOT_AVAIL
    }
}

/// 48 bits that stand for a tenant in its slot locks (the lock tag has no
/// room for all 128): a hash of the whole id, so that ids that share a
/// prefix (UUIDv7's leading 48 bits are its creation time, the same for
/// tenants created in the same millisecond) do not share slots. Returns
/// the first 32 bits and the next 16.
fn slot_key(tenant: &[u8; 16]) -> (u32, u32) {
    // splitmix64's finalizer over both halves.
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (high, low) = tenant.split_at(8);
    let high = u64::from_be_bytes(high.try_into().expect("8 bytes"));
    let low = u64::from_be_bytes(low.try_into().expect("8 bytes"));
    let h = mix(mix(high) ^ low.wrapping_add(0x9e37_79b9_7f4a_7c15));
    ((h >> 32) as u32, ((h >> 16) & 0xFFFF) as u32)
}

fn too_many(effective: &Effective, max: u32) -> pgrx::pg_sys::panic::ErrorReport {
    let source = if effective.from_plan[Governor::MaxTransactions as usize] {
        format!("plan \"{}\"", effective.plan.as_deref().unwrap_or(""))
    } else {
        "the tenant's own governor".to_string()
    };
    error::refusal(
        Refusal::TransactionLimit,
        format!(
            "tenant \"{}\" already has {max} open transactions, the most {source} allows (max_transactions), and none ended within {} ms",
            effective.slug,
            WAIT.get()
        ),
        format!(
            "Retry later and keep transactions short, or raise the limit: SELECT tenant_governor_set('{}', 'max_transactions', '{}');",
            effective.slug,
            max * 2
        ),
    )
}

/// At the start of every statement (`hooks`): the governors of the tenant
/// the transaction names, when it names one that pg_tenant accepts. A
/// tenant that is refused (unknown, suspended, not proven) is refused by
/// the statement's first read of tenant data, as without the hook.
pub fn at_statement_start() -> Result<()> {
    // SAFETY: reads backend-local state.
    if unsafe { pg_sys::IsInParallelMode() } {
        return Ok(());
    }
    match super::current::accepted_tenant() {
        Ok(Some(tenant)) => apply(tenant),
        Ok(None) => Ok(()),
        Err(_) => {
            crate::error::sqlstate::forget();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::slot_key;

    #[test]
    fn ids_that_share_a_prefix_get_slots_of_their_own() {
        // Two UUIDv7 ids of the same millisecond share their first 48 bits.
        let a = [
            0x01, 0x93, 0x8f, 0x2c, 0x4e, 0x10, 0x7a, 0x01, 0x80, 0, 0, 0, 0, 0, 0, 1,
        ];
        let mut b = a;
        b[15] = 2;
        assert_ne!(slot_key(&a), slot_key(&b));
        assert_eq!(slot_key(&a), slot_key(&a));
        let (_, high) = slot_key(&a);
        assert!(high <= 0xFFFF);
    }
}
