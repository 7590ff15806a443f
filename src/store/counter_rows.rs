//! Adds to the counter rows of `tenant.usage_totals` and
//! `tenant.usage_by_table` without going through SQL.
//!
//! Every write to a counted table changes two counter rows. Through SPI, even
//! from a saved plan, that cost more than the write itself (executor start-up
//! and shutdown of two ModifyTable nodes, ON CONFLICT's pre-check, plan
//! revalidation: about 137,000 instructions per statement, see
//! benches/results). Here each row is found by its primary key and locked the
//! way logical replication's apply worker does it (RelationFindReplTupleByIndex:
//! a dirty-snapshot index lookup that waits for a concurrent writer of the row,
//! then locks its latest committed version), and replaced with the heap and
//! index routines Postgres uses for its own catalogs (CatalogTupleUpdate: a HOT
//! update when the page has room, index entries otherwise). Both have kept
//! their signatures across the PostgreSQL versions pg_tenant supports.
//!
//! A counter always starts from the latest committed value, whatever the
//! caller's isolation level: a count that started from an older snapshot
//! would not be exact. The lock is held to the end of the transaction, so
//! the writers of one counter row queue on it as with `UPDATE`; preloaded,
//! concurrent writers of a tenant use rows of their own (stripes, see
//! `escrow`), and `sum` reads a counter's stripes together.
//!
//! Each session remembers where it last wrote each counter row (its TID).
//! The next add to that row first tries that version directly: when it is
//! still the row's latest committed version (same key, no writer in
//! progress), it is locked there, which skips the index descent and the walk
//! along the row's HOT chain. Anything else (the version was updated by
//! another session, pruned, or the table rewritten) falls back to the index
//! lookup; a remembered TID is a hint, never trusted without those checks.
//!
//! No trigger, rule, policy or privilege check applies to these writes:
//! nothing but pg_tenant writes these tables, and the only index they may
//! have is their primary key (checked before every write).

use super::lookup;
use crate::error;
use crate::session::cache::SessionCache;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgSqlErrorCode, PgTupleDesc};
use std::cell::RefCell;
use std::ffi::CStr;

/// The bytes of a counter row's key (a tenant's uuid, a table's oid for
/// usage_by_table, the stripe), with the counter table's OID: what
/// `LAST_WRITTEN` is keyed by.
type KeyBytes = [u8; 24];
type RowKey = (u32, KeyBytes);

thread_local! {
    /// Where this session last wrote each counter row (see the module doc).
    /// A tenant has a totals row and a row per counted table: a larger limit.
    static LAST_WRITTEN: RefCell<SessionCache<RowKey, pg_sys::ItemPointerData>> = RefCell::new(SessionCache::with_limit(8192));
    /// Per counter table (OID): its file, its size in blocks and this
    /// session's SharedInvalidMessageCounter when the size was read (see
    /// `block_exists`).
    static KNOWN_SIZES: RefCell<SessionCache<u32, (u32, u32, u64)>> = RefCell::new(SessionCache::new());
}

/// Adds each `(column, amount)` of `changes` to the row of `table` whose
/// primary key columns hold `key`, and returns the columns' new values (in
/// the order of `changes`). None when there is no such row.
pub fn add(
    table: &'static CStr,
    key: &[(&CStr, pg_sys::Datum)],
    changes: &[(&CStr, i64)],
) -> error::Result<Option<Vec<i64>>> {
    // SAFETY: the relation stays open (and locked) while the row is changed;
    // if Postgres raises, transaction abort closes it and releases the slots.
    unsafe {
        // A counter row this command changed earlier must be visible to the
        // lookup and the lock (as SPI does between statements).
        pg_sys::CommandCounterIncrement();
        let relid = lookup::registry_table(table)?;
        let rel = pg_sys::table_open(relid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        let result = add_to_row(rel, table, key, changes);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        result
    }
}

/// The sums of `columns` over the rows of `table` whose leading primary key
/// columns hold `prefix` (each with its type's equality function), except
/// the row whose next key column (`stripe`: the column and this writer's
/// value) holds this writer's stripe, read with a fresh snapshot: every
/// committed version, and this transaction's own writes. A counter split over stripes is the sum of its rows;
/// the caller adds its own stripe, whose value its `add` returned (it holds
/// that row's lock, so nobody else changed it).
///
/// Leaving the writer's own row out is what keeps this cheap: that row is
/// the one updated on every write, and its index entries lead through long
/// chains of dead versions that a scan would have to walk. The scan keys
/// are ranges on the stripe (below it when it is not 0, and above it), so
/// the index never visits that row; the counter tables' CHECK constraints
/// keep stripes within 0-15, so stripe 0 has nothing below it.
pub fn sum_except(
    table: &'static CStr,
    prefix: &[(&CStr, pg_sys::Datum, pg_sys::RegProcedure)],
    stripe: (&CStr, i32),
    columns: &[&CStr],
) -> error::Result<Vec<i64>> {
    // SAFETY: the relation stays open (and locked) for the scans; the
    // snapshot is registered for them; if Postgres raises, transaction
    // abort releases both.
    unsafe {
        // What this transaction wrote earlier in this command must be
        // visible to the snapshot.
        pg_sys::CommandCounterIncrement();
        let relid = lookup::registry_table(table)?;
        let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let result = sum_rows_except(rel, table, prefix, stripe, columns);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        result
    }
}

/// # Safety
/// `rel` is open.
unsafe fn sum_rows_except(
    rel: pg_sys::Relation,
    table: &CStr,
    prefix: &[(&CStr, pg_sys::Datum, pg_sys::RegProcedure)],
    (stripe_column, own): (&CStr, i32),
    columns: &[&CStr],
) -> error::Result<Vec<i64>> {
    unsafe {
        let index = only_primary_key(rel, table)?;
        let desc = (*rel).rd_att;
        let mut keys: Vec<pg_sys::ScanKeyData> = Vec::with_capacity(prefix.len() + 1);
        for (column, value, equal) in prefix {
            let at = lookup::column_index(desc, table, column)?;
            keys.push(scan_key(at, pg_sys::BTEqualStrategyNumber, *equal, *value));
        }
        let stripe_at = lookup::column_index(desc, table, stripe_column)?;
        let at = columns
            .iter()
            .map(|column| lookup::column_index(desc, table, column))
            .collect::<error::Result<Vec<usize>>>()?;
        let mut sums = vec![0i64; columns.len()];
        // One snapshot for both ranges, so that they add up to one moment.
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let mut ranges = Vec::with_capacity(2);
        if own > 0 {
            ranges.push((pg_sys::BTLessStrategyNumber, pg_sys::F_INT4LT));
        }
        ranges.push((pg_sys::BTGreaterStrategyNumber, pg_sys::F_INT4GT));
        for (strategy, compare) in ranges {
            let mut range = keys.clone();
            range.push(scan_key(
                stripe_at,
                strategy,
                pg_sys::RegProcedure::from(compare),
                own.into(),
            ));
            add_scanned(rel, index, snapshot, &mut range, &at, &mut sums);
        }
        pg_sys::UnregisterSnapshot(snapshot);
        Ok(sums)
    }
}

/// A scan key on column `at` (0-based) of a counter table.
fn scan_key(
    at: usize,
    strategy: u32,
    compare: pg_sys::RegProcedure,
    value: pg_sys::Datum,
) -> pg_sys::ScanKeyData {
    // SAFETY: ScanKeyInit fills every field of a zeroed key.
    unsafe {
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut key,
            (at + 1) as pg_sys::AttrNumber,
            strategy as pg_sys::StrategyNumber,
            compare,
            value,
        );
        key
    }
}

/// Adds the columns `at` of the rows the index scan with `keys` returns to
/// `sums`.
///
/// # Safety
/// `rel` is open, `index` is its primary key, `snapshot` is registered.
unsafe fn add_scanned(
    rel: pg_sys::Relation,
    index: pg_sys::Oid,
    snapshot: pg_sys::Snapshot,
    keys: &mut [pg_sys::ScanKeyData],
    at: &[usize],
    sums: &mut [i64],
) {
    unsafe {
        let desc = (*rel).rd_att;
        let natts = (*desc).natts as usize;
        let mut values = vec![pg_sys::Datum::from(0); natts];
        let mut nulls = vec![false; natts];
        let scan = pg_sys::systable_beginscan(
            rel,
            index,
            true,
            snapshot,
            keys.len() as i32,
            keys.as_mut_ptr(),
        );
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            pg_sys::heap_deform_tuple(tuple, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
            for (sum, &column) in sums.iter_mut().zip(at) {
                if !nulls[column] {
                    *sum = sum.saturating_add(values[column].value() as i64);
                }
            }
        }
        pg_sys::systable_endscan(scan);
    }
}

/// # Safety
/// `rel` is open with at least RowExclusiveLock.
unsafe fn add_to_row(
    rel: pg_sys::Relation,
    table: &CStr,
    key: &[(&CStr, pg_sys::Datum)],
    changes: &[(&CStr, i64)],
) -> error::Result<Option<Vec<i64>>> {
    unsafe {
        let index = only_primary_key(rel, table)?;
        // Where each key column is, resolved once for the lookup, the
        // remembered version's check and the cache key.
        let columns = key
            .iter()
            .map(|(column, _)| lookup::column_index((*rel).rd_att, table, column))
            .collect::<error::Result<Vec<usize>>>()?;
        let row_key = key_bytes(rel, &columns, |i| Some(key[i].1))
            .map(|bytes| ((*rel).rd_id.to_u32(), bytes));
        let found = pg_sys::table_slot_create(rel, std::ptr::null_mut());
        let locked = lock_where_last_written(rel, &columns, row_key, found)
            || lock_by_primary_key(rel, index, &columns, key, found);
        let result = if locked {
            replace_row(rel, table, found, changes).map(|(values, written_at)| {
                if let Some(row_key) = row_key {
                    remember(row_key, written_at);
                }
                Some(values)
            })
        } else {
            Ok(None)
        };
        pg_sys::ExecDropSingleTupleTableSlot(found);
        result
    }
}

/// Finds the row with `key` through the primary key and locks its latest
/// committed version into `found` (waiting for a concurrent writer of the
/// row). False when there is no such row.
///
/// # Safety
/// `rel` is open with at least RowExclusiveLock; `found` is a slot of `rel`.
unsafe fn lock_by_primary_key(
    rel: pg_sys::Relation,
    index: pg_sys::Oid,
    columns: &[usize],
    key: &[(&CStr, pg_sys::Datum)],
    found: *mut pg_sys::TupleTableSlot,
) -> bool {
    unsafe {
        let desc = (*rel).rd_att;
        let natts = (*desc).natts as usize;
        // The key to look for, in a slot shaped like the table's rows.
        let search = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsVirtual);
        pg_sys::ExecClearTuple(search);
        std::slice::from_raw_parts_mut((*search).tts_isnull, natts).fill(true);
        for (&at, (_, value)) in columns.iter().zip(key) {
            *(*search).tts_values.add(at) = *value;
            *(*search).tts_isnull.add(at) = false;
        }
        pg_sys::ExecStoreVirtualTuple(search);
        let locked = pg_sys::RelationFindReplTupleByIndex(
            rel,
            index,
            pg_sys::LockTupleMode::LockTupleNoKeyExclusive,
            search,
            found,
        );
        pg_sys::ExecDropSingleTupleTableSlot(search);
        locked
    }
}

/// Locks the version of the row this session wrote last, when it is still
/// the row's latest committed version; false (nothing locked) otherwise.
///
/// The checks, in order: the block still exists (VACUUM may have truncated
/// the table); the line pointer holds a tuple that a dirty snapshot sees
/// with no transaction inserting or deleting it in progress (so it was
/// neither updated since nor written by an aborted transaction); it has the
/// row's key (after pruning, a line pointer can hold another row). Only then
/// is it locked, without following updates: if another session updated it
/// meanwhile, the lock reports so and the caller uses the index.
///
/// # Safety
/// `rel` is open with at least RowExclusiveLock; `found` is a slot of `rel`.
unsafe fn lock_where_last_written(
    rel: pg_sys::Relation,
    columns: &[usize],
    row_key: Option<RowKey>,
    found: *mut pg_sys::TupleTableSlot,
) -> bool {
    let Some(row_key) = row_key else {
        return false;
    };
    let Some(mut tid) = LAST_WRITTEN.with(|rows| rows.borrow().get(&row_key).copied()) else {
        return false;
    };
    unsafe {
        let block = (u32::from(tid.ip_blkid.bi_hi) << 16) | u32::from(tid.ip_blkid.bi_lo);
        if !block_exists(rel, block) {
            return false;
        }
        let mut dirty: pg_sys::SnapshotData = std::mem::zeroed();
        dirty.snapshot_type = pg_sys::SnapshotType::SNAPSHOT_DIRTY;
        let visible = pg_sys::table_tuple_fetch_row_version(rel, &mut tid, &mut dirty, found);
        let settled = dirty.xmin == pg_sys::InvalidTransactionId
            && dirty.xmax == pg_sys::InvalidTransactionId;
        if !visible || !settled || stored_key(rel, columns, found) != Some(row_key.1) {
            pg_sys::ExecClearTuple(found);
            return false;
        }
        let mut failure: pg_sys::TM_FailureData = std::mem::zeroed();
        let result = pg_sys::table_tuple_lock(
            rel,
            &mut tid,
            pg_sys::GetLatestSnapshot(),
            found,
            pg_sys::GetCurrentCommandId(false),
            pg_sys::LockTupleMode::LockTupleNoKeyExclusive,
            pg_sys::LockWaitPolicy::LockWaitBlock,
            0,
            &mut failure,
        );
        if result != pg_sys::TM_Result::TM_Ok {
            pg_sys::ExecClearTuple(found);
            return false;
        }
        true
    }
}

/// Whether `block` lies within the table's main file.
///
/// Asking the kernel costs a system call (lseek) per counter row, so the
/// session remembers each counter table's size, with its file (relfilenode)
/// and `SharedInvalidMessageCounter` at the time. A table's file only
/// shrinks when VACUUM truncates it, under an AccessExclusiveLock, after
/// sending a shared invalidation that every session processes before it can
/// lock the table again (which advances its `SharedInvalidMessageCounter`);
/// TRUNCATE, CLUSTER and VACUUM FULL give it a new file instead. So while
/// both are unchanged, a remembered size is a lower bound of the real one:
/// a block below it exists. Anything else asks the kernel again.
///
/// # Safety
/// `rel` is open with at least RowExclusiveLock.
unsafe fn block_exists(rel: pg_sys::Relation, block: u32) -> bool {
    unsafe {
        let relid = (*rel).rd_id.to_u32();
        let file = (*(*rel).rd_rel).relfilenode.to_u32();
        let invalidations = pg_sys::SharedInvalidMessageCounter;
        let known = KNOWN_SIZES.with(|sizes| sizes.borrow().get(&relid).copied());
        if let Some((known_file, blocks, known_invalidations)) = known {
            if known_file == file && known_invalidations == invalidations && block < blocks {
                return true;
            }
        }
        let blocks = pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
        KNOWN_SIZES.with(|sizes| {
            sizes
                .borrow_mut()
                .insert(relid, (file, blocks, invalidations))
        });
        block < blocks
    }
}

/// The key bytes of the row in `slot` (see `key_bytes`).
///
/// # Safety
/// `slot` holds a row of `rel`.
unsafe fn stored_key(
    rel: pg_sys::Relation,
    columns: &[usize],
    slot: *mut pg_sys::TupleTableSlot,
) -> Option<KeyBytes> {
    unsafe {
        pg_sys::slot_getallattrs(slot);
        key_bytes(rel, columns, |i| {
            let at = columns[i];
            (!*(*slot).tts_isnull.add(at)).then(|| *(*slot).tts_values.add(at))
        })
    }
}

/// The bytes of a key whose value in column `columns[i]` is `value(i)`: what
/// `LAST_WRITTEN` is keyed by, and what a remembered version's key must
/// match. None when a value is NULL or variable-length, or the key does not
/// fit (never for the counter tables): such a row is always found through
/// the index.
///
/// # Safety
/// `rel` is open; each value is a datum of its column's type.
unsafe fn key_bytes(
    rel: pg_sys::Relation,
    columns: &[usize],
    value: impl Fn(usize) -> Option<pg_sys::Datum>,
) -> Option<KeyBytes> {
    let desc = unsafe { PgTupleDesc::from_pg_unchecked((*rel).rd_att) };
    let mut bytes = [0u8; 24];
    let mut used = 0;
    for (i, &at) in columns.iter().enumerate() {
        let attribute = desc.get(at)?;
        let len = usize::try_from(attribute.attlen).ok()?;
        let out = bytes.get_mut(used..used + len)?;
        let datum = value(i)?;
        if attribute.attbyval {
            out.copy_from_slice((datum.value() as u64).to_le_bytes().get(..len)?);
        } else {
            // SAFETY: a fixed-length by-reference datum points at `len` bytes.
            out.copy_from_slice(unsafe {
                std::slice::from_raw_parts(datum.cast_mut_ptr::<u8>(), len)
            });
        }
        used += len;
    }
    Some(bytes)
}

fn remember(row_key: RowKey, written_at: pg_sys::ItemPointerData) {
    LAST_WRITTEN.with(|rows| rows.borrow_mut().insert(row_key, written_at));
}

/// Writes the new version of the locked row in `found`.
///
/// # Safety
/// `found` holds a row of `rel` that this transaction has locked.
unsafe fn replace_row(
    rel: pg_sys::Relation,
    table: &CStr,
    found: *mut pg_sys::TupleTableSlot,
    changes: &[(&CStr, i64)],
) -> error::Result<(Vec<i64>, pg_sys::ItemPointerData)> {
    unsafe {
        let desc = (*rel).rd_att;
        pg_sys::slot_getallattrs(found);
        let mut columns = Vec::with_capacity(changes.len());
        let mut values = Vec::with_capacity(changes.len());
        let mut new_values = Vec::with_capacity(changes.len());
        for (column, amount) in changes {
            let at = lookup::column_index(desc, table, column)?;
            // The counter columns are NOT NULL bigint.
            let current = if *(*found).tts_isnull.add(at) {
                0
            } else {
                (*(*found).tts_values.add(at)).value() as i64
            };
            let new = current
                .checked_add(*amount)
                .ok_or_else(|| overflow(table, column))?;
            columns.push(at as i32 + 1);
            values.push(pg_sys::Datum::from(new));
            new_values.push(new);
        }
        let mut nulls = vec![false; changes.len()];
        let mut should_free = false;
        let old = pg_sys::ExecFetchSlotHeapTuple(found, false, &mut should_free);
        let new = pg_sys::heap_modify_tuple_by_cols(
            old,
            desc,
            columns.len() as i32,
            columns.as_mut_ptr(),
            values.as_mut_ptr(),
            nulls.as_mut_ptr(),
        );
        pg_sys::CatalogTupleUpdate(rel, &mut (*found).tts_tid, new);
        // heap_update set the new version's location.
        let written_at = (*new).t_self;
        pg_sys::heap_freetuple(new);
        if should_free {
            pg_sys::heap_freetuple(old);
        }
        Ok((new_values, written_at))
    }
}

/// The table's primary key index, when it is the table's only index:
/// CatalogTupleUpdate maintains plain indexes only, and the counter tables
/// need no other.
///
/// # Safety
/// `rel` is open.
unsafe fn only_primary_key(rel: pg_sys::Relation, table: &CStr) -> error::Result<pg_sys::Oid> {
    unsafe {
        // The relcache keeps the table's index list once built: read it
        // there (as RelationGetPrimaryKeyIndex does) rather than copying it
        // for every counter row.
        if !(*rel).rd_indexvalid {
            pg_sys::list_free(pg_sys::RelationGetIndexList(rel));
        }
        let primary_key = (*rel).rd_pkindex;
        let count = pg_sys::list_length((*rel).rd_indexlist);
        if primary_key == pg_sys::InvalidOid || count != 1 {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "the counter table tenant.{} must have its primary key as its only index (it has {count} indexes)",
                    table.to_string_lossy()
                ),
                "Drop the indexes added to it, or reinstall the extension.",
            ));
        }
        Ok(primary_key)
    }
}

fn overflow(table: &CStr, column: &CStr) -> ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        format!(
            "counter tenant.{}.{} would overflow bigint",
            table.to_string_lossy(),
            column.to_string_lossy()
        ),
        "Recompute the counters with tenant_usage_reconcile().",
    )
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;
    use pgrx::Uuid;

    fn new_tenant(slug: &str) -> Uuid {
        Spi::get_one_with_args::<Uuid>("SELECT tenant_create($1, $1)", &[slug.into()])
            .unwrap()
            .expect("tenant_create returns the id")
    }

    fn totals(tenant: Uuid) -> (i64, i64) {
        let (members, storage) = Spi::get_two_with_args::<i64, i64>(
            "SELECT members, storage_bytes FROM tenant.usage_totals WHERE tenant_id = $1",
            &[tenant.into()],
        )
        .unwrap();
        (members.unwrap(), storage.unwrap())
    }

    #[pg_test]
    fn adds_to_the_row_again_and_again_within_one_command() {
        let tenant = new_tenant("counter-rows");
        let key = [
            (c"tenant_id", tenant.into_datum().unwrap()),
            (c"stripe", 0i32.into_datum().unwrap()),
        ];
        let changes = [(c"storage_bytes", 40), (c"members", 2)];
        // The second call changes the version the first one wrote: it must
        // see it (no "attempted to lock invisible tuple").
        assert_eq!(
            super::add(c"usage_totals", &key, &changes).unwrap(),
            Some(vec![40, 2])
        );
        assert_eq!(
            super::add(c"usage_totals", &key, &changes).unwrap(),
            Some(vec![80, 4])
        );
        assert_eq!(totals(tenant), (4, 80));
        let missing = [
            (
                c"tenant_id",
                Uuid::from_bytes([7; 16]).into_datum().unwrap(),
            ),
            (c"stripe", 0i32.into_datum().unwrap()),
        ];
        assert_eq!(
            super::add(c"usage_totals", &missing, &changes).unwrap(),
            None
        );
    }

    fn add_storage(tenant: Uuid, bytes: i64) -> Option<Vec<i64>> {
        let key = [
            (c"tenant_id", tenant.into_datum().unwrap()),
            (c"stripe", 0i32.into_datum().unwrap()),
        ];
        super::add(c"usage_totals", &key, &[(c"storage_bytes", bytes)]).unwrap()
    }

    fn remembered(tenant: Uuid) -> bool {
        let relid = Spi::get_one::<pg_sys::Oid>("SELECT 'tenant.usage_totals'::regclass::oid")
            .unwrap()
            .unwrap();
        let mut bytes = [0u8; 24];
        bytes[..16].copy_from_slice(tenant.as_bytes());
        super::LAST_WRITTEN.with(|rows| rows.borrow().get(&(relid.to_u32(), bytes)).is_some())
    }

    #[pg_test]
    fn a_remembered_version_that_someone_else_updated_is_not_used() {
        let tenant = new_tenant("counter-rows-stale");
        assert_eq!(add_storage(tenant, 10), Some(vec![10]));
        assert!(remembered(tenant));
        // Another writer (here plain SQL) makes a newer version: the
        // remembered one is dead, and the add must start from the new value.
        Spi::run_with_args(
            "UPDATE tenant.usage_totals SET storage_bytes = storage_bytes + 100 WHERE tenant_id = $1",
            &[tenant.into()],
        )
        .unwrap();
        assert_eq!(add_storage(tenant, 1), Some(vec![111]));
        assert_eq!(add_storage(tenant, 1), Some(vec![112]));
        assert_eq!(totals(tenant), (0, 112));
    }

    #[pg_test]
    fn a_remembered_version_written_by_a_rolled_back_subtransaction_is_not_used() {
        let tenant = new_tenant("counter-rows-abort");
        assert_eq!(add_storage(tenant, 10), Some(vec![10]));
        // A subtransaction adds (and remembers where it wrote), then rolls
        // back: that version never existed for anyone.
        unsafe {
            let context = pg_sys::CurrentMemoryContext;
            let owner = pg_sys::CurrentResourceOwner;
            pg_sys::BeginInternalSubTransaction(std::ptr::null());
            assert_eq!(add_storage(tenant, 5), Some(vec![15]));
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
        }
        assert!(remembered(tenant));
        assert_eq!(add_storage(tenant, 1), Some(vec![11]));
        assert_eq!(totals(tenant), (0, 11));
    }

    #[pg_test]
    fn a_remembered_location_that_holds_another_row_is_not_used() {
        let first = new_tenant("counter-rows-first");
        let second = new_tenant("counter-rows-second");
        assert_eq!(add_storage(first, 7), Some(vec![7]));
        // Point the first tenant's remembered location at the second
        // tenant's row, as if pruning had freed it and another row took it.
        let relid = Spi::get_one::<pg_sys::Oid>("SELECT 'tenant.usage_totals'::regclass::oid")
            .unwrap()
            .unwrap();
        let (block, offset) = Spi::get_two_with_args::<i64, i32>(
            "SELECT (ctid::text::point)[0]::bigint, (ctid::text::point)[1]::int FROM tenant.usage_totals WHERE tenant_id = $1",
            &[second.into()],
        )
        .unwrap();
        let (block, offset) = (block.unwrap() as u32, offset.unwrap() as u16);
        let mut bytes = [0u8; 24];
        bytes[..16].copy_from_slice(first.as_bytes());
        let mut tid = pg_sys::ItemPointerData::default();
        tid.ip_blkid.bi_hi = (block >> 16) as u16;
        tid.ip_blkid.bi_lo = (block & 0xffff) as u16;
        tid.ip_posid = offset;
        super::remember((relid.to_u32(), bytes), tid);
        assert_eq!(add_storage(first, 1), Some(vec![8]));
        assert_eq!(totals(second), (0, 0));
        // A location past the end of the table is not read at all.
        tid.ip_blkid.bi_lo = 60000;
        super::remember((relid.to_u32(), bytes), tid);
        assert_eq!(add_storage(first, 1), Some(vec![9]));
    }

    #[pg_test]
    fn a_remembered_location_in_a_table_given_a_new_file_is_not_read() {
        let tenant = new_tenant("counter-rows-truncated");
        assert_eq!(add_storage(tenant, 3), Some(vec![3]));
        assert!(remembered(tenant));
        // A new, empty file: the remembered block is past its end (reading
        // it would fail), whatever size the session knew for the old file.
        Spi::run("TRUNCATE tenant.usage_totals").unwrap();
        assert_eq!(add_storage(tenant, 1), None);
        Spi::run_with_args(
            "INSERT INTO tenant.usage_totals (tenant_id) VALUES ($1)",
            &[tenant.into()],
        )
        .unwrap();
        assert_eq!(add_storage(tenant, 1), Some(vec![1]));
    }

    #[pg_test]
    fn sums_a_counters_other_stripes_below_and_above_the_writers_own() {
        let tenant = new_tenant("counter-rows-stripes");
        let other = new_tenant("counter-rows-stripes-other");
        Spi::run_with_args(
            "INSERT INTO tenant.usage_totals (tenant_id, stripe, storage_bytes) VALUES ($1, 3, 30), ($1, 7, 700), ($2, 1, 5)",
            &[tenant.into(), other.into()],
        )
        .unwrap();
        let prefix = [(
            c"tenant_id",
            tenant.into_datum().unwrap(),
            pg_sys::RegProcedure::from(pg_sys::F_UUID_EQ),
        )];
        let except = |stripe: i32| {
            super::sum_except(
                c"usage_totals",
                &prefix,
                (c"stripe", stripe),
                &[c"storage_bytes", c"members"],
            )
            .unwrap()
        };
        assert_eq!(except(0), vec![730, 0]);
        assert_eq!(except(3), vec![700, 0]);
        assert_eq!(except(7), vec![30, 0]);
        // An add to stripe 0 in this very command counts for the others.
        assert_eq!(add_storage(tenant, 4), Some(vec![4]));
        assert_eq!(except(0), vec![730, 0]);
        assert_eq!(except(3), vec![704, 0]);
        assert_eq!(except(15), vec![734, 0]);
    }

    #[pg_test]
    #[should_panic(expected = "usage_totals_stripe_range")]
    fn refuses_a_stripe_outside_the_writers_places() {
        let tenant = new_tenant("counter-rows-stripe-range");
        Spi::run_with_args(
            "INSERT INTO tenant.usage_totals (tenant_id, stripe) VALUES ($1, -1)",
            &[tenant.into()],
        )
        .unwrap();
    }

    #[pg_test]
    fn refuses_a_counter_table_with_another_index() {
        let tenant = new_tenant("counter-rows-index");
        Spi::run("CREATE INDEX usage_totals_storage ON tenant.usage_totals (storage_bytes)")
            .unwrap();
        let key = [
            (c"tenant_id", tenant.into_datum().unwrap()),
            (c"stripe", 0i32.into_datum().unwrap()),
        ];
        let error = super::add(c"usage_totals", &key, &[(c"storage_bytes", 1)]).unwrap_err();
        assert_eq!(
            error.message(),
            "pg_tenant: the counter table tenant.usage_totals must have its primary key as its only index (it has 2 indexes)"
        );
        assert_eq!(totals(tenant), (0, 0));
    }
}
