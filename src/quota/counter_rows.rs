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
//! would not be exact. The lock is held to the end of the transaction, so a
//! tenant's writers queue on its `usage_totals` row as with `UPDATE`.
//!
//! No trigger, rule, policy or privilege check applies to these writes:
//! nothing but pg_tenant writes these tables, and the only index they may
//! have is their primary key (checked before every write).

use crate::error;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;
use std::ffi::CStr;

/// The schema of the counter tables.
const SCHEMA: &CStr = c"tenant";

/// Adds each `(column, amount)` of `changes` to the row of `table` whose
/// primary key columns hold `key`, and returns the columns' new values (in
/// the order of `changes`). None when there is no such row.
pub fn add(
    table: &CStr,
    key: &[(&CStr, pg_sys::Datum)],
    changes: &[(&CStr, i64)],
) -> error::Result<Option<Vec<i64>>> {
    // SAFETY: the relation stays open (and locked) while the row is changed;
    // if Postgres raises, transaction abort closes it and releases the slots.
    unsafe {
        // A counter row this command changed earlier must be visible to the
        // lookup and the lock (as SPI does between statements).
        pg_sys::CommandCounterIncrement();
        let relid = counter_table(table)?;
        let rel = pg_sys::table_open(relid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        let result = add_to_row(rel, table, key, changes);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        result
    }
}

/// The OID of `tenant.<table>`.
fn counter_table(table: &CStr) -> error::Result<pg_sys::Oid> {
    let relid = unsafe {
        let schema = pg_sys::get_namespace_oid(SCHEMA.as_ptr(), true);
        pg_sys::get_relname_relid(table.as_ptr(), schema)
    };
    if relid == pg_sys::InvalidOid {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!(
                "the counter table tenant.{} is missing",
                table.to_string_lossy()
            ),
            "Reinstall the extension: DROP EXTENSION pg_tenant; CREATE EXTENSION pg_tenant.",
        ));
    }
    Ok(relid)
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
        let desc = (*rel).rd_att;
        let index = only_primary_key(rel, table)?;
        let natts = (*desc).natts as usize;

        // The key to look for, in a slot shaped like the table's rows.
        let search = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsVirtual);
        pg_sys::ExecClearTuple(search);
        std::slice::from_raw_parts_mut((*search).tts_isnull, natts).fill(true);
        for (column, value) in key {
            let at = column_index(desc, table, column)?;
            *(*search).tts_values.add(at) = *value;
            *(*search).tts_isnull.add(at) = false;
        }
        pg_sys::ExecStoreVirtualTuple(search);

        let found = pg_sys::table_slot_create(rel, std::ptr::null_mut());
        let locked = pg_sys::RelationFindReplTupleByIndex(
            rel,
            index,
            pg_sys::LockTupleMode::LockTupleNoKeyExclusive,
            search,
            found,
        );
        let result = if locked {
            replace_row(rel, table, found, changes).map(Some)
        } else {
            Ok(None)
        };
        pg_sys::ExecDropSingleTupleTableSlot(found);
        pg_sys::ExecDropSingleTupleTableSlot(search);
        result
    }
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
) -> error::Result<Vec<i64>> {
    unsafe {
        let desc = (*rel).rd_att;
        pg_sys::slot_getallattrs(found);
        let mut columns = Vec::with_capacity(changes.len());
        let mut values = Vec::with_capacity(changes.len());
        let mut new_values = Vec::with_capacity(changes.len());
        for (column, amount) in changes {
            let at = column_index(desc, table, column)?;
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
        pg_sys::heap_freetuple(new);
        if should_free {
            pg_sys::heap_freetuple(old);
        }
        Ok(new_values)
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
        let primary_key = pg_sys::RelationGetPrimaryKeyIndex(rel);
        let indexes = pg_sys::RelationGetIndexList(rel);
        let count = pg_sys::list_length(indexes);
        pg_sys::list_free(indexes);
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

/// The 0-based position of `column` in `desc`.
///
/// # Safety
/// `desc` is a valid tuple descriptor.
unsafe fn column_index(
    desc: pg_sys::TupleDesc,
    table: &CStr,
    column: &CStr,
) -> error::Result<usize> {
    let attnum = unsafe { pg_sys::SPI_fnumber(desc, column.as_ptr()) };
    if attnum <= 0 {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!(
                "the counter table tenant.{} has no column {}",
                table.to_string_lossy(),
                column.to_string_lossy()
            ),
            "Reinstall the extension: DROP EXTENSION pg_tenant; CREATE EXTENSION pg_tenant.",
        ));
    }
    Ok(attnum as usize - 1)
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
        let key = [(c"tenant_id", tenant.into_datum().unwrap())];
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
        let missing = [(
            c"tenant_id",
            Uuid::from_bytes([7; 16]).into_datum().unwrap(),
        )];
        assert_eq!(
            super::add(c"usage_totals", &missing, &changes).unwrap(),
            None
        );
    }

    #[pg_test]
    fn refuses_a_counter_table_with_another_index() {
        let tenant = new_tenant("counter-rows-index");
        Spi::run("CREATE INDEX usage_totals_storage ON tenant.usage_totals (storage_bytes)")
            .unwrap();
        let key = [(c"tenant_id", tenant.into_datum().unwrap())];
        let error = super::add(c"usage_totals", &key, &[(c"storage_bytes", 1)]).unwrap_err();
        assert_eq!(
            error.message(),
            "pg_tenant: the counter table tenant.usage_totals must have its primary key as its only index (it has 2 indexes)"
        );
        assert_eq!(totals(tenant), (0, 0));
    }
}
