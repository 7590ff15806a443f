//! Records that outlive the transaction that makes them: a row of
//! `tenant.bypass_log` is written and committed by a background worker of
//! its own, started for it, while the session waits; the session goes on
//! only once the worker reports the row committed. A transaction that reads
//! across tenants and then rolls back is recorded all the same.
//!
//! The record travels to the worker in a dynamic shared memory segment: a
//! status word (the worker sets it once its transaction committed), the
//! payload's length, and the payload (JSON). Anything else — no worker slot
//! free (`max_worker_processes`), a standby, a database that refuses writes,
//! the worker failing — leaves the status unset, and the caller gets an
//! error: the work that needed the record does not happen.

use crate::error::{self, Result};
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// The status word's value once the worker's transaction committed.
const COMMITTED: u32 = 1;
/// Bytes before the payload: status (u32) and length (u32).
const HEADER: usize = 8;

/// The statement the worker runs with the payload as `$1` (jsonb).
const INSERT_BYPASS_RECORD: &str = "
INSERT INTO tenant.bypass_log (xact_start, backend_pid, vxid, db_role, session_role, app_user, reason, tables)
SELECT '2000-01-01 00:00:00+00'::pg_catalog.timestamptz OPERATOR(pg_catalog.+)
         ((p OPERATOR(pg_catalog.->>) 'xact_start_us')::pg_catalog.int8 OPERATOR(pg_catalog.*) '1 microsecond'::pg_catalog.interval),
       (p OPERATOR(pg_catalog.->>) 'backend_pid')::pg_catalog.int4,
       p OPERATOR(pg_catalog.->>) 'vxid',
       (p OPERATOR(pg_catalog.->>) 'db_role')::pg_catalog.name,
       (p OPERATOR(pg_catalog.->>) 'session_role')::pg_catalog.name,
       p OPERATOR(pg_catalog.->>) 'app_user',
       p OPERATOR(pg_catalog.->>) 'reason',
       ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p OPERATOR(pg_catalog.->) 'tables'))
  FROM (SELECT $1::pg_catalog.jsonb AS p) AS s";

/// Writes one row of `tenant.bypass_log` (`payload`: its columns as a JSON
/// object) in a transaction of its own, and returns once it committed.
pub fn append_bypass_record(payload: &str) -> Result<()> {
    let refused = |why: &str| {
        error::report(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("the bypass could not be recorded ({why}), so it is refused"),
            "Every use of the bypass is written to tenant.bypass_log by a background worker before it reads or writes anything: \
             on a primary server with a free background worker slot (max_worker_processes) and a database that accepts writes.",
        )
    };
    // SAFETY: plain server state.
    if unsafe { pg_sys::RecoveryInProgress() } {
        return Err(refused("this server is a standby"));
    }
    // SAFETY: a segment of the size written, mapped while this function
    // runs; the worker only reads the payload and sets the status word.
    unsafe {
        let segment = pg_sys::dsm_create(HEADER + payload.len(), 0);
        let base = pg_sys::dsm_segment_address(segment) as *mut u8;
        let status = &*(base as *const AtomicU32);
        status.store(0, Ordering::SeqCst);
        std::ptr::write_unaligned(base.add(4) as *mut u32, payload.len() as u32);
        std::ptr::copy_nonoverlapping(payload.as_ptr(), base.add(HEADER), payload.len());
        let handle = pg_sys::dsm_segment_handle(segment);
        let started = BackgroundWorkerBuilder::new("pg_tenant bypass recorder")
            .set_type("pg_tenant bypass recorder")
            .set_library("pg_tenant")
            .set_function("_tenant_bypass_recorder")
            .set_argument(Some(pg_sys::Datum::from(handle)))
            .set_extra(&pg_sys::MyDatabaseId.to_u32().to_string())
            .enable_spi_access()
            .set_start_time(BgWorkerStartTime::RecoveryFinished)
            .set_restart_time(None)
            .set_notify_pid(pg_sys::MyProcPid)
            .load_dynamic();
        let outcome = match started {
            Err(_) => Err(refused("no background worker slot is free")),
            Ok(worker) => match worker.wait_for_shutdown() {
                Err(_) => Err(refused("the recorder stopped unexpectedly")),
                Ok(()) if status.load(Ordering::SeqCst) == COMMITTED => Ok(()),
                Ok(()) => Err(refused(
                    "the recorder could not write it; see the server log",
                )),
            },
        };
        pg_sys::dsm_detach(segment);
        outcome
    }
}

/// The recorder: a background worker started by `append_bypass_record`,
/// which connects to the caller's database (as the bootstrap superuser: it
/// runs only pg_tenant's own statement, with its own fixed SQL), inserts the
/// record, commits, and sets the status word.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn _tenant_bypass_recorder(argument: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let database = BackgroundWorker::get_extra().parse::<u32>().unwrap_or(0);
    if database == 0 {
        return;
    }
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(database)), None);
    // SAFETY: the caller's segment, alive until this worker exits (the
    // caller waits for that); no resource owner yet, so the mapping lasts
    // until dsm_detach.
    unsafe {
        let segment = pg_sys::dsm_attach(argument.value() as pg_sys::dsm_handle);
        if segment.is_null() {
            return;
        }
        let base = pg_sys::dsm_segment_address(segment) as *mut u8;
        let length = std::ptr::read_unaligned(base.add(4) as *const u32) as usize;
        let payload = std::slice::from_raw_parts(base.add(HEADER), length);
        let payload = String::from_utf8_lossy(payload).into_owned();
        BackgroundWorker::transaction(|| {
            Spi::run_with_args(INSERT_BYPASS_RECORD, &[payload.as_str().into()])
        })
        .unwrap_or_else(|e| pgrx::error!("pg_tenant bypass recorder: {e}"));
        // Committed: tell the caller.
        (*(base as *const AtomicU32)).store(COMMITTED, Ordering::SeqCst);
        pg_sys::dsm_detach(segment);
    }
}
