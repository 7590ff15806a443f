//! Usage counters, kept by statement triggers with transition tables.
//!
//! `tenant_enable` attaches `tenant_count_usage` AFTER INSERT, UPDATE, DELETE
//! (each with its transition tables) and TRUNCATE to every table that tracks
//! usage. Per statement, the trigger sums the rows and bytes that each tenant
//! gained or lost, then adds each tenant's delta first to its
//! `tenant.usage_totals` row and then to its `tenant.usage_by_table` row,
//! directly with the heap routines (`counter_rows`), not through SQL.
//! Without `shared_preload_libraries` that is stripe 0 of each, whose lock
//! queues the tenant's writers (which is what makes them exact); preloaded,
//! a writer that meets another one takes a stripe of its own and the quota
//! escrow (`store::escrow`) keeps the check exact. A write that makes
//! usage pass a limit raises the quota error, which undoes the write and the
//! counters with it. Tenants are applied in UUID order, so two statements
//! that touch the same tenants cannot deadlock on the counters. Bulk writes
//! cost one counter update per tenant, not per row.
//!
//! Members are counted by the functions that add and remove them
//! (`add_members`), not by a trigger on tenant.members: a trigger there would
//! count again the members a pg_dump restore copies in next to the restored
//! counters (user tables get their triggers only after their data).

use super::quota::{refuse_over, refuse_past, Quota};
use super::row_size;
use crate::error;
use crate::names::{TENANT_COLUMN_C, USAGE_TRIGGER_FUNCTION};
use crate::registry::limits;
use crate::store::{counter_rows, escrow, identity, lookup, spi};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{PgOid, PgTupleDesc, Uuid};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::CStr;

/// What one statement changed for one tenant.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct Delta {
    rows: i64,
    bytes: i64,
}

// `tenant_count_usage()`: the statement trigger described above.
crate::trigger_function!(tenant_count_usage, pg_finfo_tenant_count_usage, count_usage);

fn count_usage<'a>(
    trigger: &'a PgTrigger<'a>,
) -> error::Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>> {
    count_statement(trigger).map(|()| None)
}

fn count_statement(trigger: &PgTrigger) -> error::Result<()> {
    let data = trigger.trigger_data();
    // SAFETY: a trigger's relation is open for the whole call.
    let (relid, tupdesc) = unsafe { ((*data.tg_relation).rd_id, (*data.tg_relation).rd_att) };
    let table = || identity::relation_label(relid);
    if data.tg_event & pg_sys::TRIGGER_EVENT_ROW != 0 {
        return Err(misuse(&table()));
    }
    // SAFETY: a trigger's trigger is valid for the call.
    let trigger_oid = unsafe { (*data.tg_trigger).tgoid };
    if !attached_by_pg_tenant(data) || !counts_usage(relid, trigger_oid)? {
        return Err(not_attached_by_pg_tenant(&table()));
    }
    // A partition or inheritance child written directly counts on its
    // counted root, as the root's own triggers count the rows written
    // through it (`counted_as`).
    let counted = counted_as(relid)?;
    let table = || identity::relation_label(counted);
    if data.tg_event & pg_sys::TRIGGER_EVENT_OPMASK == pg_sys::TRIGGER_EVENT_TRUNCATE {
        // A partition or child truncated on its own: its rows stay counted
        // on the root (more than there is, never less) until reconciled.
        if counted != relid {
            return Ok(());
        }
        // An inheritance parent may have been truncated ONLY: its children
        // keep their rows, which it counts, so it is recounted from what is
        // left. (A partitioned table cannot be truncated ONLY.)
        // SAFETY: a trigger's relation is open for the whole call.
        let (has_children, kind) = unsafe {
            let rel = (*data.tg_relation).rd_rel;
            ((*rel).relhassubclass, (*rel).relkind as u8)
        };
        if !(has_children && kind == pg_sys::RELKIND_RELATION) {
            return identity::as_registry_owner_qualified(|| forget_table(relid));
        }
        return identity::as_registry_owner(|| recount(relid, &spi::extension_schema()?));
    }
    let column = unsafe { pg_sys::SPI_fnumber(tupdesc, TENANT_COLUMN_C.as_ptr()) };
    if column <= 0 || unsafe { pg_sys::SPI_gettypeid(tupdesc, column) } != pg_sys::UUIDOID {
        return Err(missing_column(&table()));
    }
    let mut deltas = BTreeMap::new();
    // SAFETY: transition tables, when present, hold tuples of `tupdesc`.
    unsafe {
        let tupdesc = PgTupleDesc::from_pg_unchecked(tupdesc);
        let column = column as usize - 1;
        sum_rows(data.tg_newtable, &tupdesc, column, 1, &mut deltas);
        sum_rows(data.tg_oldtable, &tupdesc, column, -1, &mut deltas);
    }
    deltas.retain(|_, d| *d != Delta::default());
    if deltas.is_empty() {
        return Ok(());
    }
    identity::as_registry_owner_qualified(|| {
        for (tenant, delta) in deltas {
            apply_table(Uuid::from_bytes(tenant), counted, delta, &table)?;
        }
        Ok(())
    })
}

/// Whether the trigger is one of those tenant_enable attaches (by name,
/// for its event) on a permanent table: the function counts with the
/// registry owner's rights, and any table owner could attach it to a table
/// of their own under another name, or to a temporary table that any role
/// may create, to write counters for any tenant.
fn attached_by_pg_tenant(data: &pg_sys::TriggerData) -> bool {
    let expected: &CStr = match data.tg_event & pg_sys::TRIGGER_EVENT_OPMASK {
        pg_sys::TRIGGER_EVENT_INSERT => c"tenant_usage_insert",
        pg_sys::TRIGGER_EVENT_UPDATE => c"tenant_usage_update",
        pg_sys::TRIGGER_EVENT_DELETE => c"tenant_usage_delete",
        pg_sys::TRIGGER_EVENT_TRUNCATE => c"tenant_usage_truncate",
        _ => return false,
    };
    // SAFETY: a trigger's relation and trigger are valid for the call.
    unsafe {
        CStr::from_ptr((*data.tg_trigger).tgname) == expected
            && (*(*data.tg_relation).rd_rel).relpersistence as u8 != pg_sys::RELPERSISTENCE_TEMP
    }
}

thread_local! {
    /// Writes of this transaction stopped before their last row
    /// (`note_unfinished`): the subtransaction each ran in, and its table.
    static UNFINISHED: RefCell<Vec<(pg_sys::SubTransactionId, String)>> = const { RefCell::new(Vec::new()) };
}

thread_local! {
    /// Usage triggers (by OID, with their table's) found on a table the
    /// registry counts. A trigger created later (a forged one, or the
    /// table's triggers recreated) is looked up again; a table that stops
    /// counting (`_tenant_usage_stop`, `_tenant_unregister_table`, which send
    /// a relcache invalidation of the table to every session) and any
    /// transaction that aborts drop what was remembered.
    static COUNTING_TRIGGERS: RefCell<HashMap<u32, u32>> = RefCell::new(HashMap::new());
}

thread_local! {
    /// Tables (by OID), the counted table their usage is counted on
    /// (`counted_as`) and every ancestor the answer was read from: an
    /// invalidation of the table or of one of them (ATTACH, DETACH,
    /// INHERIT, NO INHERIT, a table that starts or stops counting) drops the
    /// entry, one of any other relation (a temporary table's) keeps it; all
    /// go on abort.
    static COUNTED_AS: RefCell<HashMap<u32, CountedAs>> = RefCell::new(HashMap::new());
}

/// An entry of `COUNTED_AS`.
struct CountedAs {
    root: u32,
    ancestors: Vec<u32>,
}

/// The table whose counters a table's writes go to: the topmost of its
/// ancestors (partition parents and inheritance parents, any depth) whose
/// usage the registry counts, whose scan reads every row of the table and
/// whose own triggers count the rows routed, updated or deleted through it;
/// the table itself when no ancestor counts. Counting a partition's or an
/// inheritance child's direct writes on itself, and the writes through the
/// root on the root, made every recount count its rows twice; counting
/// neither let its direct writes past every quota.
///
/// Refused (0A000) for a table that two counted tables, neither above the
/// other, read through inheritance: a scan of each counts its rows.
pub fn counted_as(relid: pg_sys::Oid) -> error::Result<pg_sys::Oid> {
    let known = COUNTED_AS.with(|c| c.borrow().get(&relid.to_u32()).map(|e| e.root));
    if let Some(root) = known {
        return Ok(pg_sys::Oid::from(root));
    }
    let (roots, ancestors) = counted_roots(relid)?;
    let root = match roots.as_slice() {
        [] => relid,
        [root] => *root,
        [first, second, ..] => return Err(two_counted_roots(relid, *first, *second)),
    };
    // Read fresh (see `counted_roots`): good until an invalidation of the
    // table or one of its ancestors.
    let entry = CountedAs {
        root: root.to_u32(),
        ancestors,
    };
    COUNTED_AS.with(|c| c.borrow_mut().insert(relid.to_u32(), entry));
    Ok(root)
}

/// Refuses (0A000) a table that two counted tables, neither above the
/// other, read through inheritance (`counted_as`), looked up afresh.
pub fn refuse_two_roots(relid: pg_sys::Oid) -> error::Result<()> {
    match counted_roots(relid)?.0.as_slice() {
        [first, second, ..] => Err(two_counted_roots(relid, *first, *second)),
        _ => Ok(()),
    }
}

/// Whether `relid` or a table above it counts usage (a table created or
/// attached below it is counted then, on its counted root).
pub fn counted_here_or_above(relid: pg_sys::Oid) -> error::Result<bool> {
    Ok(!counted_roots(relid)?.0.is_empty())
}

/// The counted tables among `relid` and its ancestors that have no counted
/// ancestor themselves, in OID order; and every ancestor of `relid`. Read
/// fresh whatever the isolation level: pg_inherits with the catalog
/// snapshot, `tenant.tables` by primary key with the latest one (a
/// REPEATABLE READ transaction that began before a table above started
/// counting must count on it from then on, or pass its limits).
fn counted_roots(relid: pg_sys::Oid) -> error::Result<(Vec<pg_sys::Oid>, Vec<u32>)> {
    let mut parents: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut pending = vec![relid];
    let mut seen = std::collections::HashSet::new();
    while let Some(table) = pending.pop() {
        if !seen.insert(table.to_u32()) {
            continue;
        }
        let above = lookup::inheritance_parents(table);
        parents.insert(table.to_u32(), above.iter().map(|o| o.to_u32()).collect());
        pending.extend(above);
    }
    let mut counted_set = std::collections::HashSet::new();
    identity::as_registry_owner_qualified(|| {
        for table in &seen {
            if lookup::tracks_usage(pg_sys::Oid::from(*table))? == Some(true) {
                counted_set.insert(*table);
            }
        }
        Ok(())
    })?;
    // Whether a counted table lies strictly above `table`.
    let has_counted_ancestor = |table: u32| {
        let mut stack = parents.get(&table).cloned().unwrap_or_default();
        let mut visited = std::collections::HashSet::new();
        while let Some(next) = stack.pop() {
            if !visited.insert(next) {
                continue;
            }
            if counted_set.contains(&next) {
                return true;
            }
            stack.extend(parents.get(&next).into_iter().flatten().copied());
        }
        false
    };
    let mut ancestors: Vec<u32> = parents.values().flatten().copied().collect();
    ancestors.sort_unstable();
    ancestors.dedup();
    let mut roots: Vec<pg_sys::Oid> = counted_set
        .iter()
        .copied()
        .filter(|table| !has_counted_ancestor(*table))
        .map(pg_sys::Oid::from)
        .collect();
    roots.sort_unstable_by_key(|o| o.to_u32());
    Ok((roots, ancestors))
}

fn two_counted_roots(relid: pg_sys::Oid, first: pg_sys::Oid, second: pg_sys::Oid) -> ErrorReport {
    let (table, first, second) = (
        identity::relation_label(relid),
        identity::relation_label(first),
        identity::relation_label(second),
    );
    error::report(
        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        format!("cannot count the usage of {table}: it inherits from both {first} and {second}, which count usage, and a scan of each reads its rows (they would be counted twice)"),
        format!("Stop counting one of them (tenant_enable('{}', track_usage => false)), or remove one inheritance (ALTER TABLE {table} NO INHERIT ...).", second.replace('\'', "''")),
    )
}

/// Whether the registry counts the table's usage (`tenant.tables.track_usage`):
/// a trigger with the right name on a table the registry does not count (one
/// its owner registered through `_tenant_register_table` without counting
/// its rows, then gave the trigger) would subtract rows that were never
/// added, and lower any tenant's usage.
fn counts_usage(relid: pg_sys::Oid, trigger: pg_sys::Oid) -> error::Result<bool> {
    if COUNTING_TRIGGERS.with(|t| t.borrow().contains_key(&trigger.to_u32())) {
        return Ok(true);
    }
    let counted = identity::as_registry_owner_qualified(|| {
        spi::one::<bool>(
            "SELECT t.track_usage FROM tenant.tables t WHERE t.relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid",
            &[relid.into()],
        )
    })?
    .unwrap_or(false);
    if counted {
        COUNTING_TRIGGERS.with(|t| t.borrow_mut().insert(trigger.to_u32(), relid.to_u32()));
    }
    Ok(counted)
}

/// Notes, at the end of a statement, an INSERT, UPDATE, DELETE or MERGE with
/// RETURNING on a table that pg_tenant counts or audits (its transition-table
/// triggers) that was stopped before its last row: an SPI row limit
/// (PL/Perl's `spi_exec_query(query, limit)`, PL/Python's
/// `plpy.execute(query, limit)`, `SPI_execute` with a count) ends the
/// statement there, and Postgres then never fires its AFTER STATEMENT
/// triggers, so the rows it wrote would go uncounted and unaudited. The
/// transaction is refused when it commits (`refuse_unfinished`), unless the
/// subtransaction the write ran in is rolled back first: PL/pgSQL runs
/// `... RETURNING ... INTO` with a row limit of two and raises P0003 (which
/// its handlers catch) when a second row comes, so the refusal must not
/// take that error's place.
///
/// # Safety
/// `query` is the descriptor of a statement whose run has finished.
pub unsafe fn note_unfinished(query: *mut pg_sys::QueryDesc) {
    unsafe {
        let state = (*query).planstate;
        if state.is_null() || (*state).type_ != pg_sys::NodeTag::T_ModifyTableState {
            return;
        }
        let modify = state.cast::<pg_sys::ModifyTableState>();
        if (*modify).mt_done || (*modify).mt_transition_capture.is_null() {
            return;
        }
        let target = if (*modify).rootResultRelInfo.is_null() {
            (*modify).resultRelInfo
        } else {
            (*modify).rootResultRelInfo
        };
        let triggers = (*target).ri_TrigDesc;
        let ours = !triggers.is_null()
            && std::slice::from_raw_parts((*triggers).triggers, (*triggers).numtriggers as usize)
                .iter()
                .any(|t| {
                    let name = CStr::from_ptr(t.tgname).to_bytes();
                    name.starts_with(b"tenant_usage_") || name.starts_with(b"tenant_audit_")
                });
        if ours {
            let table = identity::relation_label((*(*target).ri_RelationDesc).rd_id);
            let subxact = pg_sys::GetCurrentSubTransactionId();
            UNFINISHED.with(|u| u.borrow_mut().push((subxact, table)));
        }
    }
}

/// Refuses (0A000) the commit of a transaction that kept a write stopped
/// early (`note_unfinished`).
pub fn refuse_unfinished() -> error::Result<()> {
    let Some((_, table)) = UNFINISHED.with(|u| u.borrow().first().cloned()) else {
        return Ok(());
    };
    Err(error::report(
        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        format!("a write to {table} with RETURNING was stopped before its last row (a row limit given to SPI), so its usage was not counted; the transaction is rolled back"),
        "Run the statement without a row limit (PL/Perl's spi_exec_query and PL/Python's plpy.execute take one), or read its rows through WITH w AS (... RETURNING ...) SELECT ... FROM w.",
    ))
}

/// Registers the transaction callbacks of `note_unfinished` (from `_PG_init`).
pub fn init() {
    // SAFETY: _PG_init runs once per process.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
        pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0));
    }
}

/// Tells every session that `relid` stopped counting (or was unregistered),
/// at commit: their `counts_usage` looks it up again.
pub fn stopped_counting(relid: pg_sys::Oid) {
    // SAFETY: queues a relcache invalidation of an existing relation.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) }
}

unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let relid = relid.to_u32();
    COUNTING_TRIGGERS.with(|t| {
        let mut t = t.borrow_mut();
        // InvalidOid: every relation was invalidated.
        if relid == 0 {
            t.clear();
        } else {
            t.retain(|_, table| *table != relid);
        }
    });
    // Which ancestor counts changes only with an invalidation of the table
    // or of one of its ancestors (see COUNTED_AS).
    COUNTED_AS.with(|c| {
        let mut c = c.borrow_mut();
        if relid == 0 {
            c.clear();
        } else {
            c.retain(|table, e| *table != relid && !e.ancestors.contains(&relid));
        }
    });
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PRE_PREPARE => {
            if let Err(e) = refuse_unfinished() {
                error::raise(e);
            }
        }
        XACT_EVENT_COMMIT | XACT_EVENT_PREPARE => {
            UNFINISHED.with(|u| u.borrow_mut().clear());
        }
        XACT_EVENT_ABORT => {
            UNFINISHED.with(|u| u.borrow_mut().clear());
            COUNTING_TRIGGERS.with(|t| t.borrow_mut().clear());
            COUNTED_AS.with(|c| c.borrow_mut().clear());
        }
        _ => {}
    }
}

/// A rolled-back subtransaction takes its stopped writes with it (its own
/// and those of the subtransactions inside it, whose ids are higher).
#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    subxact: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        UNFINISHED.with(|u| u.borrow_mut().retain(|(id, _)| *id < subxact));
    }
}

/// Adds `sign` × (1 row, its bytes) per tuple of a transition table to the
/// tuple's tenant.
///
/// # Safety
/// `store` is NULL or a transition tuplestore of tuples described by `tupdesc`.
unsafe fn sum_rows(
    store: *mut pg_sys::Tuplestorestate,
    tupdesc: &PgTupleDesc,
    tenant_column: usize,
    sign: i64,
    deltas: &mut BTreeMap<[u8; 16], Delta>,
) {
    if store.is_null() {
        return;
    }
    unsafe {
        let slot = pg_sys::MakeSingleTupleTableSlot(tupdesc.as_ptr(), &pg_sys::TTSOpsMinimalTuple);
        // Other triggers of the statement read the same store: use a read
        // pointer of our own and start from the first tuple.
        let reader = pg_sys::tuplestore_alloc_read_pointer(store, pg_sys::EXEC_FLAG_REWIND as i32);
        pg_sys::tuplestore_select_read_pointer(store, reader);
        pg_sys::tuplestore_rescan(store);
        let natts = tupdesc.len();
        while pg_sys::tuplestore_gettupleslot(store, true, false, slot) {
            pg_sys::slot_getallattrs(slot);
            let values = std::slice::from_raw_parts((*slot).tts_values, natts);
            let nulls = std::slice::from_raw_parts((*slot).tts_isnull, natts);
            if nulls[tenant_column] {
                continue;
            }
            let tenant = *(values[tenant_column].cast_mut_ptr::<[u8; 16]>());
            let delta = deltas.entry(tenant).or_default();
            delta.rows += sign;
            delta.bytes += sign * row_size::row_bytes(tupdesc, values, nulls);
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
    }
}

/// Creates a stripe of the tenant's totals if the tenant exists. A tenant
/// that does not exist any more (its rows go with it, e.g. in the cascade of
/// tenant_purge) gets none, and its counters are left alone.
const ENSURE_TOTALS_SQL: &str = "
INSERT INTO tenant.usage_totals (tenant_id, stripe)
SELECT t.id, $2 FROM tenant.tenants t WHERE t.id OPERATOR(pg_catalog.=) $1
    ON CONFLICT (tenant_id, stripe) DO NOTHING
RETURNING true, true";

/// Creates a stripe of the tenant's counters for a table.
const ENSURE_TABLE_ROW_SQL: &str = "
INSERT INTO tenant.usage_by_table (tenant_id, relid, stripe) VALUES ($1, $2, $3)
    ON CONFLICT (tenant_id, relid, stripe) DO NOTHING
RETURNING true, true";

/// Adds one statement's delta for one tenant to its counters, then checks
/// the row and storage limits.
fn apply_table(
    tenant: Uuid,
    relid: pg_sys::Oid,
    delta: Delta,
    table: &dyn Fn() -> String,
) -> error::Result<()> {
    let Some(counted) = add_counted(tenant, relid, delta)? else {
        return Ok(());
    };
    refuse_over(
        tenant,
        Quota::Rows,
        relid.to_u32(),
        delta.rows,
        Some(table),
        |_| limits::rows_of(tenant, relid),
        || {
            let others = table_sum_except(tenant, relid, counted.rows_stripe, c"row_count")?;
            Ok(counted.rows.saturating_add(others))
        },
    )?;
    refuse_over(
        tenant,
        Quota::StorageBytes,
        0,
        delta.bytes,
        None,
        |l| Ok(l.storage_bytes.clone()),
        || {
            let others = totals_sum_except(tenant, counted.totals_stripe, c"storage_bytes")?;
            Ok(counted.storage_bytes.saturating_add(others))
        },
    )
}

/// Where `add_counted` added a delta, and the values it left there.
struct Counted {
    totals_stripe: i32,
    /// The totals stripe's storage bytes.
    storage_bytes: i64,
    rows_stripe: i32,
    /// The table stripe's row count.
    rows: i64,
}

/// Adds a table's existing rows to the tenant's counters without checking
/// limits (`count_existing_rows`); preloaded, with the additions reserved,
/// so that the tenant's other writers count them before this transaction
/// commits.
fn add_table_delta(tenant: Uuid, relid: pg_sys::Oid, delta: Delta) -> error::Result<()> {
    if add_counted(tenant, relid, delta)?.is_some() && escrow::available() {
        let id = tenant.as_bytes();
        escrow::settle(id, 0, delta.bytes, None, || Ok(0))?;
        escrow::settle(id, relid.to_u32(), delta.rows, None, || Ok(0))?;
    }
    Ok(())
}

/// Adds a delta to the tenant's totals first, then to its counters for the
/// table. Preloaded, each on the stripe the escrow gives this transaction
/// (`store::escrow::join`); otherwise on stripe 0, whose lock queues the
/// tenant's writers. None when the tenant no longer exists.
fn add_counted(tenant: Uuid, relid: pg_sys::Oid, delta: Delta) -> error::Result<Option<Counted>> {
    let escrow = escrow::available();
    let id = tenant.as_bytes();
    let totals_stripe = if escrow { escrow::join(id, 0)? } else { 0 };
    let Some(storage_bytes) = add_to_totals(tenant, c"storage_bytes", delta.bytes, totals_stripe)?
    else {
        return Ok(None);
    };
    let rows_stripe = if escrow {
        escrow::join(id, relid.to_u32())?
    } else {
        0
    };
    let rows = add_to_table(tenant, relid, delta, rows_stripe)?;
    Ok(Some(Counted {
        totals_stripe,
        storage_bytes,
        rows_stripe,
        rows,
    }))
}

/// Adds rows and bytes to a stripe of the tenant's counters for a table,
/// creating the stripe when needed; returns the stripe's new row count.
fn add_to_table(tenant: Uuid, relid: pg_sys::Oid, delta: Delta, stripe: i32) -> error::Result<i64> {
    let key = [
        (c"tenant_id", lookup::uuid_key(tenant.as_bytes())),
        (c"relid", relid.into()),
        (c"stripe", stripe.into()),
    ];
    let changes = [(c"row_count", delta.rows), (c"bytes", delta.bytes)];
    let values = add_or_create(c"usage_by_table", &key, &changes, || {
        let types = [
            PgOid::from(pg_sys::UUIDOID),
            PgOid::from(pg_sys::OIDOID),
            PgOid::from(pg_sys::INT4OID),
        ];
        spi::saved_two::<bool, bool>(
            ENSURE_TABLE_ROW_SQL,
            &types,
            &[tenant.into(), relid.into(), stripe.into()],
        )
    })?;
    // The tenant exists (its totals row was just written), and the row was
    // created if it was missing.
    values
        .map(|values| values[0])
        .ok_or_else(|| error::bug("usage_by_table: the counter row was not created"))
}

/// Adds `amount` to one column of a stripe of the tenant's totals and
/// returns the stripe's new value. A tenant without the stripe yet
/// (tenant_create makes stripe 0; a tenant restored or inserted some other
/// way does not have it) gets it here. None when the tenant no longer
/// exists.
fn add_to_totals(
    tenant: Uuid,
    column: &CStr,
    amount: i64,
    stripe: i32,
) -> error::Result<Option<i64>> {
    let key = [
        (c"tenant_id", lookup::uuid_key(tenant.as_bytes())),
        (c"stripe", stripe.into()),
    ];
    let total = add_or_create(c"usage_totals", &key, &[(column, amount)], || {
        let types = [PgOid::from(pg_sys::UUIDOID), PgOid::from(pg_sys::INT4OID)];
        spi::saved_two::<bool, bool>(ENSURE_TOTALS_SQL, &types, &[tenant.into(), stripe.into()])
    })?;
    Ok(total.map(|values| values[0]))
}

/// A tenant's total of a column of `usage_totals` over its stripes other
/// than `stripe` (the caller's, whose value it knows).
fn totals_sum_except(tenant: Uuid, stripe: i32, column: &CStr) -> error::Result<i64> {
    let prefix = [(
        c"tenant_id",
        lookup::uuid_key(tenant.as_bytes()),
        pg_sys::RegProcedure::from(pg_sys::F_UUID_EQ),
    )];
    Ok(counter_rows::sum_except(c"usage_totals", &prefix, (c"stripe", stripe), &[column])?[0])
}

/// A tenant's total of a column of `usage_by_table` for a table, over its
/// stripes other than `stripe` (the caller's).
fn table_sum_except(
    tenant: Uuid,
    relid: pg_sys::Oid,
    stripe: i32,
    column: &CStr,
) -> error::Result<i64> {
    let prefix = [
        (
            c"tenant_id",
            lookup::uuid_key(tenant.as_bytes()),
            pg_sys::RegProcedure::from(pg_sys::F_UUID_EQ),
        ),
        (
            c"relid",
            relid.into(),
            pg_sys::RegProcedure::from(pg_sys::F_OIDEQ),
        ),
    ];
    Ok(counter_rows::sum_except(c"usage_by_table", &prefix, (c"stripe", stripe), &[column])?[0])
}

/// Adds to a counter row (`counter_rows::add`); when the row is missing,
/// runs `create` (an INSERT ... ON CONFLICT DO NOTHING, which waits for a
/// concurrent writer creating the same row) and adds again.
fn add_or_create<T>(
    table: &'static CStr,
    key: &[(&CStr, pg_sys::Datum)],
    changes: &[(&CStr, i64)],
    create: impl FnOnce() -> error::Result<T>,
) -> error::Result<Option<Vec<i64>>> {
    if let Some(values) = counter_rows::add(table, key, changes)? {
        return Ok(Some(values));
    }
    create()?;
    counter_rows::add(table, key, changes)
}

/// Adds `change` members to the tenant's count (tenant_create,
/// tenant_member_add, tenant_member_remove call it after their write), and
/// refuses a count past the member limit. Members are counted in stripe 0
/// only: its lock queues every change of a tenant's members (they are few).
pub fn add_members(tenant: Uuid, change: i64) -> error::Result<()> {
    identity::as_registry_owner_qualified(|| {
        let Some(members) = add_to_totals(tenant, c"members", change, 0)? else {
            return Ok(());
        };
        if change > 0 {
            refuse_past(tenant, Quota::Members, None, members, |l| {
                Ok(l.members.clone())
            })?;
        }
        Ok(())
    })
}

/// Removes a table's counters and takes its bytes off its tenants' storage:
/// after TRUNCATE, and when a table stops counting usage.
pub fn forget_table(relid: pg_sys::Oid) -> error::Result<()> {
    // One statement: the rows deleted are the versions the bytes taken off
    // come from (a writer holding one is waited for, and its version is
    // the one deleted and subtracted).
    spi::execute(
        "WITH gone AS (DELETE FROM tenant.usage_by_table u
                        WHERE u.relid OPERATOR(pg_catalog.=) $1
                        RETURNING u.tenant_id, u.bytes)
         INSERT INTO tenant.usage_totals AS t (tenant_id, stripe, storage_bytes)
         SELECT g.tenant_id, 0, pg_catalog.sum(g.bytes)::pg_catalog.int8 OPERATOR(pg_catalog.*) -1
           FROM gone g
          GROUP BY g.tenant_id
             ON CONFLICT (tenant_id, stripe)
             DO UPDATE SET storage_bytes = t.storage_bytes OPERATOR(pg_catalog.+) EXCLUDED.storage_bytes",
        &[relid.into()],
    )
}

/// Keeps writers out of `relid` and every table below it (partitions and
/// inheritance children) until this transaction ends, waiting for those in
/// progress: a recount of a root, or counters moved to or from it, must not
/// meet a writer counting on the tree at the same time (it would be counted
/// twice, or not at all). Parents first, in the order Postgres' own DDL
/// locks a tree.
pub fn lock_tree(relid: pg_sys::Oid) {
    lookup::tree_of(
        relid,
        Some(pg_sys::ShareRowExclusiveLock as pg_sys::LOCKMODE),
    );
}

/// Adds a counted table's existing rows to the counters, per tenant (after
/// `forget_table`).
///
/// A partition or inheritance child of a counted table counts on its counted
/// root (`counted_as`). One that starts counting while it holds rows (it was
/// registered without counting, or not tenant-scoped, while rows were
/// written into it by name) may hold rows the root's counters never saw, and
/// which ones cannot be told apart: the root is recounted from its rows. An
/// empty one adds nothing; the rows a table brings when it is attached or
/// starts inheriting are added by that DDL (`count_rows_into`, inside
/// `joining`, where this adds nothing).
pub fn count_existing_rows(relid: pg_sys::Oid, schema: &str) -> error::Result<()> {
    let root = counted_as(relid)?;
    if root == relid {
        return count_rows_into(relid, relid, schema);
    }
    if JOINING.get() || Tree::of(relid)?.totals(schema, None)?.is_empty() {
        return Ok(());
    }
    recount(root, schema)
}

/// Recounts a counted root from the rows of its tree, writers kept out
/// meanwhile (`lock_tree`).
pub fn recount(root: pg_sys::Oid, schema: &str) -> error::Result<()> {
    lock_tree(root);
    forget_table(root)?;
    count_rows_into(root, root, schema)
}

thread_local! {
    /// Set while DDL that brings a tree under a counted root counts the
    /// tree's rows itself (`joining`).
    static JOINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (which enables the tables of a tree now under a counted root
/// and adds the tree's rows to the root once) with `count_existing_rows`
/// adding nothing for them.
pub fn joining<R>(f: impl FnOnce() -> error::Result<R>) -> error::Result<R> {
    /// Puts the flag back however `f` ends (an error raised inside unwinds).
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            JOINING.set(self.0);
        }
    }
    let _restore = Restore(JOINING.replace(true));
    f()
}

/// Adds the rows of `source` and of the tables below it (partitions and
/// inheritance children, any depth) to the counters of `counted`, per
/// tenant (`Tree::totals`): a table's own rows when it starts counting, or
/// those an attached table brings to its counted root.
pub fn count_rows_into(
    counted: pg_sys::Oid,
    source: pg_sys::Oid,
    schema: &str,
) -> error::Result<()> {
    // Existing rows are counted even past a limit: they are already there.
    for (tenant, rows, bytes) in Tree::of(source)?.totals(schema, None)? {
        add_table_delta(tenant, counted, Delta { rows, bytes })?;
    }
    Ok(())
}

/// The tables that hold the rows of a tree (`relid` and everything below
/// it, partitioned tables aside), by owner, to be counted as the usage
/// triggers count them (`totals`).
pub struct Tree {
    by_owner: BTreeMap<u32, Vec<pg_sys::Oid>>,
}

impl Tree {
    pub fn of(relid: pg_sys::Oid) -> error::Result<Tree> {
        let members: Vec<pg_sys::Oid> = lookup::tree_of(relid, None)
            .into_iter()
            // SAFETY: a syscache lookup of pg_class.
            .filter(|t| unsafe { pg_sys::get_rel_relkind(*t) } as u8 != pg_sys::RELKIND_PARTITIONED_TABLE)
            .collect();
        let owners = spi::pairs::<pg_sys::Oid, pg_sys::Oid>(
            "SELECT c.oid, c.relowner FROM pg_catalog.pg_class c
              WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[]) ORDER BY c.oid",
            &[members.into()],
        )?;
        let mut by_owner: BTreeMap<u32, Vec<pg_sys::Oid>> = BTreeMap::new();
        for (table, owner) in owners {
            by_owner.entry(owner.to_u32()).or_default().push(table);
        }
        Ok(Tree { by_owner })
    }

    /// Per tenant (only `tenant`'s, when given): the tree's rows and bytes,
    /// each table read `ONLY`, as its owner, whole rows of its own row type
    /// (an inheritance child's own columns count; a scan of the parent
    /// would show its rows with the parent's columns only). Tables of one
    /// owner are read by one statement; never with the registry owner's
    /// rights.
    pub fn totals(
        &self,
        schema: &str,
        tenant: Option<Uuid>,
    ) -> error::Result<Vec<(Uuid, i64, i64)>> {
        let mut totals: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
        for tables in self.by_owner.values() {
            let names: Vec<String> = tables
                .iter()
                .map(|t| identity::relation_label(*t))
                .collect();
            let sql = row_size::per_tenant_totals_sql(schema, &names, tenant.is_some());
            let args: Vec<pgrx::datum::DatumWithOid> = tenant.into_iter().map(Into::into).collect();
            let rows = identity::as_table_owner(tables[0], || {
                Spi::connect(|client| {
                    let mut out = Vec::new();
                    for row in client.select(&sql, None, &args)? {
                        if let (Some(tenant), Some(rows), Some(bytes)) =
                            (row.get::<Uuid>(1)?, row.get::<i64>(2)?, row.get::<i64>(3)?)
                        {
                            out.push((tenant, rows, bytes));
                        }
                    }
                    Ok(out)
                })
                .map_err(error::internal)
            })?;
            for (tenant, rows, bytes) in rows {
                let entry = totals.entry(tenant).or_default();
                entry.0 += rows;
                entry.1 += bytes;
            }
        }
        Ok(totals
            .into_iter()
            .map(|(tenant, (rows, bytes))| (tenant, rows, bytes))
            .collect())
    }
}

fn missing_column(table: &str) -> ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        format!(
            "trigger function {USAGE_TRIGGER_FUNCTION}: table {table} has no uuid column tenant_id"
        ),
        "Attach it through tenant_enable(), which checks the column.",
    )
}

fn not_attached_by_pg_tenant(table: &str) -> ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
        format!("trigger function {USAGE_TRIGGER_FUNCTION} on {table} fires only in the triggers tenant_enable attaches (tenant_usage_insert, _update, _delete, _truncate) on a permanent table whose usage the registry counts"),
        "Drop this trigger; tenant_enable(table) attaches the counting triggers.",
    )
}

fn misuse(table: &str) -> ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
        format!("trigger function {USAGE_TRIGGER_FUNCTION} on {table} must fire AFTER ... FOR EACH STATEMENT with transition tables"),
        "Recreate the triggers with tenant_enable(), which attaches them correctly.",
    )
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// A counted table and a tenant in context (this transaction).
    fn counted_table() {
        Spi::run("CREATE TABLE spi_limited (id bigserial PRIMARY KEY, body text)").unwrap();
        Spi::run("SELECT tenant_enable('spi_limited', add_column => true)").unwrap();
        Spi::run(
            "SELECT set_config('app.current_tenant', tenant_create('SPI Limited', 'spi-limited')::text, true)",
        )
        .unwrap();
    }

    fn insert_returning(limit: Option<i64>) -> Result<usize, pgrx::spi::SpiError> {
        Spi::connect_mut(|client| {
            client
                .update(
                    "INSERT INTO spi_limited (body) SELECT 'row ' || i FROM generate_series(1, 3) i RETURNING id",
                    limit,
                    &[],
                )
                .map(|rows| rows.len())
        })
    }

    #[pg_test]
    fn a_write_stopped_by_an_spi_row_limit_refuses_the_commit() {
        counted_table();
        assert_eq!(insert_returning(Some(1)).unwrap(), 1);
        let refused = super::refuse_unfinished().unwrap_err();
        assert_eq!(
            refused.message(),
            "pg_tenant: a write to public.spi_limited with RETURNING was stopped before its last row (a row limit given to SPI), so its usage was not counted; the transaction is rolled back"
        );
    }

    #[pg_test]
    fn a_stopped_write_rolled_back_with_its_subtransaction_is_forgotten() {
        use crate::store::subxact::{in_subtransaction, Keep};
        counted_table();
        let _ = in_subtransaction(Keep::Never, || {
            insert_returning(Some(1)).map_err(crate::error::internal)
        });
        assert!(super::refuse_unfinished().is_ok());
    }

    #[pg_test]
    fn a_write_with_returning_run_to_its_end_is_counted() {
        counted_table();
        assert_eq!(insert_returning(None).unwrap(), 3);
        let rows = Spi::get_one::<i64>(
            "SELECT sum(row_count)::int8 FROM tenant.usage_by_table WHERE relid = 'spi_limited'::regclass",
        )
        .unwrap();
        assert_eq!(rows, Some(3));
    }
}
