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
//!   then. A value put back (`SET LOCAL statement_timeout = 0`, a function's
//!   SET clause ending, a rolled-back savepoint) is tightened again the next
//!   time the tenant is read.
//! - `max_transactions`: the transaction takes one of the tenant's slots, a
//!   transaction-level lock in the lock manager (`pg_locks`: an advisory lock
//!   of class `SLOT_CLASS`, so never one an application takes), held by the
//!   top-level transaction until it ends, whatever savepoint named the
//!   tenant. When every slot is held, it waits up to `pg_tenant.governor_wait`
//!   for one to be released, then is refused (PT041).

use crate::error::{self, Refusal, Result};
use crate::registry::governors::{self, Effective, Governor};
use crate::session::settings;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, Uuid};
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
}

thread_local! {
    /// The tenants whose slot this transaction holds (by local transaction id).
    static HOLDING: RefCell<(u32, Vec<[u8; 16]>)> = const { RefCell::new((0, Vec::new())) };
}

/// Puts `tenant`'s governors in force for this transaction.
pub fn apply(tenant: Uuid) -> Result<()> {
    // SAFETY: reads backend-local state.
    if unsafe { pg_sys::IsInParallelMode() } {
        // Settings cannot change during a parallel operation; its leader
        // applied them before it started.
        return Ok(());
    }
    let Some(effective) = governors::of_tenant(tenant)? else {
        return Ok(());
    };
    if effective.governors.is_empty() {
        return Ok(());
    }
    tighten_settings(&effective)?;
    if let Some(max) = effective.governors.get(Governor::MaxTransactions) {
        take_slot(tenant, max, &effective)?;
    }
    Ok(())
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

fn tighten_settings(effective: &Effective) -> Result<()> {
    for (governor, name, current) in settings() {
        let Some(cap) = effective.governors.get(governor) else {
            continue;
        };
        let looser = match governor {
            // 0 switches a timeout off.
            Governor::WorkMem => i64::from(current) > cap,
            _ => current == 0 || i64::from(current) > cap,
        };
        if !looser {
            continue;
        }
        settings::set_local(name, &cap.to_string());
        if governor == Governor::StatementTimeout {
            arm_statement_timeout(cap);
        }
    }
    Ok(())
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
    // 48 bits of the tenant's id (two tenants sharing them share slots) and
    // the slot number.
    let key1 = u32::from_be_bytes([tenant[0], tenant[1], tenant[2], tenant[3]]);
    let key2 = (u32::from(u16::from_be_bytes([tenant[4], tenant[5]])) << 16) | (slot & 0xFFFF);
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
