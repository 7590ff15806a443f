//! Reads one row of a registry table by its primary key with the index
//! routines, not through SQL.
//!
//! The first transaction a session runs for a tenant reads the tenant's
//! status and, on tables with quotas, its limits. Each read through SPI, even
//! from a saved plan, cost about 50,000 instructions (snapshot, plan
//! revalidation, executor start-up and shutdown); a primary-key lookup costs a
//! fraction of that (benches/instructions.sh, `TENANTS=each`). It matters to a
//! pooled connection serving more tenants than its caches hold.
//!
//! The row is read in its latest committed state, with this transaction's
//! own changes (a snapshot taken after the table is locked, whatever the
//! isolation level), under AccessShareLock like a SELECT. Latest, not the
//! transaction's snapshot: the per-session caches keep what is read here
//! under the registry epoch in force, and in a REPEATABLE READ transaction
//! that processed a registry change's invalidation the transaction's
//! snapshot predates the change (a tenant suspended meanwhile would stay
//! cached as active for the session's later transactions). Enforcement
//! follows the registry as it is now. No policy or privilege applies: these
//! are pg_tenant's own tables, read on behalf of pg_tenant, as the registry
//! owner's queries were.

use crate::error;
use crate::names::{REGISTRY_SCHEMA, TENANTS_TABLE};
use crate::session::cache::SessionCache;
use crate::session::epoch;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::cell::RefCell;
use std::ffi::CStr;

/// The row found, readable column by column while the lookup is open.
pub struct Row<'a> {
    table: &'a CStr,
    slot: *mut pg_sys::TupleTableSlot,
}

impl Row<'_> {
    /// A text column's value (None when NULL).
    pub fn text(&self, column: &CStr) -> error::Result<Option<String>> {
        let datum = self.datum(column)?;
        // SAFETY: the column is of type text (checked by the caller's table
        // definition in sql/bootstrap.sql); from_datum copies it out.
        Ok(datum.and_then(|d| unsafe { String::from_datum(d, false) }))
    }

    /// A boolean column's value (None when NULL).
    pub fn boolean(&self, column: &CStr) -> error::Result<Option<bool>> {
        Ok(self.datum(column)?.map(|d| d.value() != 0))
    }

    /// A bigint column's value (None when NULL).
    pub fn bigint(&self, column: &CStr) -> error::Result<Option<i64>> {
        Ok(self.datum(column)?.map(|d| d.value() as i64))
    }

    /// A jsonb column's value (None when NULL, or when the column is one
    /// an `ALTER EXTENSION pg_tenant UPDATE` not run yet will add: the new
    /// library serves the old tables until then).
    pub fn jsonb_added_later(&self, column: &CStr) -> error::Result<Option<serde_json::Value>> {
        // SAFETY: the slot holds a row of the open table.
        let present =
            unsafe { pg_sys::SPI_fnumber((*self.slot).tts_tupleDescriptor, column.as_ptr()) > 0 };
        if !present {
            return Ok(None);
        }
        let datum = self.datum(column)?;
        // SAFETY: the column is of type jsonb (sql/bootstrap.sql); from_datum
        // detoasts and parses it.
        Ok(datum.and_then(|d| unsafe { pgrx::JsonB::from_datum(d, false) }.map(|j| j.0)))
    }

    fn datum(&self, column: &CStr) -> error::Result<Option<pg_sys::Datum>> {
        // SAFETY: the slot holds a row of the open table until `by_primary_key` returns.
        unsafe {
            let at = column_index((*self.slot).tts_tupleDescriptor, self.table, column)?;
            let mut is_null = false;
            let datum = pg_sys::slot_getattr(self.slot, at as i32 + 1, &mut is_null);
            Ok((!is_null).then_some(datum))
        }
    }
}

/// A uuid key value: points at `bytes`, which must outlive the lookup.
pub fn uuid_key(bytes: &[u8; 16]) -> pg_sys::Datum {
    pg_sys::Datum::from(bytes.as_ptr())
}

/// Finds the row of `tenant.<table>` whose primary key columns hold `key`
/// (in the key's column order) and hands it to `read`; None when there is
/// no such row.
pub fn by_primary_key<T>(
    table: &'static CStr,
    key: &[pg_sys::Datum],
    read: impl FnOnce(&Row) -> error::Result<T>,
) -> error::Result<Option<T>> {
    let relid = registry_table(table)?;
    // SAFETY: the relation and index stay open and locked during the scan;
    // if Postgres raises, transaction abort closes them and ends the scan.
    unsafe {
        let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        // PostgreSQL 18 asks whether a deferrable key will do: ours are not.
        #[cfg(not(feature = "pg18"))]
        let index_oid = pg_sys::RelationGetPrimaryKeyIndex(rel);
        #[cfg(feature = "pg18")]
        let index_oid = pg_sys::RelationGetPrimaryKeyIndex(rel, false);
        if index_oid == pg_sys::InvalidOid {
            pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            return Err(missing_primary_key(table));
        }
        let index = pg_sys::index_open(index_oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let result = scan(rel, index, table, key, read);
        pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        result
    }
}

/// Whether `tenant.<table>` holds any row a new statement would see (read
/// as `by_primary_key` reads, by one heap scan that stops at the first row).
/// For tables that are mostly empty: an empty table costs a table open.
pub fn has_rows(table: &'static CStr) -> error::Result<bool> {
    let relid = registry_table(table)?;
    // SAFETY: the relation stays open and locked during the scan; if
    // Postgres raises, transaction abort closes it and ends the scan.
    unsafe {
        let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let snapshot = fresh_snapshot();
        let scan = pg_sys::systable_beginscan(
            rel,
            pg_sys::InvalidOid,
            false,
            snapshot,
            0,
            std::ptr::null_mut(),
        );
        let found = !pg_sys::systable_getnext(scan).is_null();
        pg_sys::systable_endscan(scan);
        pg_sys::UnregisterSnapshot(snapshot);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        Ok(found)
    }
}

/// # Safety
/// `rel` and `index` (its primary key) are open; `key` holds a datum of each
/// of the index's columns' types, in order.
unsafe fn scan<T>(
    rel: pg_sys::Relation,
    index: pg_sys::Relation,
    table: &CStr,
    key: &[pg_sys::Datum],
    read: impl FnOnce(&Row) -> error::Result<T>,
) -> error::Result<Option<T>> {
    unsafe {
        let columns = (*(*index).rd_index).indnkeyatts as usize;
        if key.len() != columns {
            return Err(error::bug(format!(
                "lookup in tenant.{} with {} key values for {columns} key columns",
                table.to_string_lossy(),
                key.len()
            )));
        }
        let mut scan_keys: Vec<pg_sys::ScanKeyData> = vec![std::mem::zeroed(); columns];
        for (i, (scan_key, value)) in scan_keys.iter_mut().zip(key).enumerate() {
            init_equality_key(index, i, *value, scan_key)?;
        }
        let snapshot = fresh_snapshot();
        // PostgreSQL 18 takes an instrumentation record (none here).
        #[cfg(not(feature = "pg18"))]
        let scan = pg_sys::index_beginscan(rel, index, snapshot, columns as i32, 0);
        #[cfg(feature = "pg18")]
        let scan = pg_sys::index_beginscan(
            rel,
            index,
            snapshot,
            std::ptr::null_mut(),
            columns as i32,
            0,
        );
        pg_sys::index_rescan(
            scan,
            scan_keys.as_mut_ptr(),
            columns as i32,
            std::ptr::null_mut(),
            0,
        );
        let slot = pg_sys::table_slot_create(rel, std::ptr::null_mut());
        let found =
            pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot);
        let result = if found {
            read(&Row { table, slot }).map(Some)
        } else {
            Ok(None)
        };
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::index_endscan(scan);
        pg_sys::UnregisterSnapshot(snapshot);
        result
    }
}

/// A snapshot of everything committed so far and this transaction's own
/// changes, including those of the current command (a tenant created
/// earlier in the same function), in every isolation level (registered; the
/// caller unregisters it). Taken after the caller locked the table, so it is
/// newer than every invalidation that lock processed (see the module doc).
/// Never in a parallel worker: pg_tenant's functions are not parallel safe,
/// and the context refuses to be read there (`context::current_tenant`).
/// The leader of a parallel operation (a PARALLEL RESTRICTED function of
/// pg_tenant under a Gather) may not take the latest snapshot: it reads with
/// the transaction's, which in READ COMMITTED is new anyway; in REPEATABLE
/// READ or SERIALIZABLE it may predate a change, so nothing the transaction
/// reads from then on is remembered (`epoch::note_stale_read`).
fn fresh_snapshot() -> pg_sys::Snapshot {
    unsafe {
        if pg_sys::IsInParallelMode() {
            // Nor may it start a command (CommandCounterIncrement raises once
            // the command wrote, as CREATE TABLE AS with a parallel plan
            // does): the current command's own changes stay unseen there.
            if pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 {
                epoch::note_stale_read();
            }
            return pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot());
        }
        pg_sys::CommandCounterIncrement();
        pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot())
    }
}

/// `index column i = value`, with the equality function and collation of
/// that column's operator class.
///
/// # Safety
/// `index` is an open B-tree index with more than `i` key columns.
unsafe fn init_equality_key(
    index: pg_sys::Relation,
    i: usize,
    value: pg_sys::Datum,
    scan_key: &mut pg_sys::ScanKeyData,
) -> error::Result<()> {
    unsafe {
        let family = *(*index).rd_opfamily.add(i);
        let input_type = *(*index).rd_opcintype.add(i);
        let operator = pg_sys::get_opfamily_member(
            family,
            input_type,
            input_type,
            pg_sys::BTEqualStrategyNumber as i16,
        );
        let procedure = pg_sys::get_opcode(operator);
        if procedure == pg_sys::InvalidOid {
            return Err(error::bug(format!(
                "no equality operator for column {} of index {}",
                i + 1,
                pg_sys::get_rel_name((*index).rd_id)
                    .as_ref()
                    .map(|name| CStr::from_ptr(name).to_string_lossy().into_owned())
                    .unwrap_or_default()
            )));
        }
        pg_sys::ScanKeyEntryInitialize(
            scan_key,
            0,
            i as i16 + 1,
            pg_sys::BTEqualStrategyNumber as u16,
            pg_sys::InvalidOid,
            *(*index).rd_indcollation.add(i),
            procedure,
            value,
        );
        Ok(())
    }
}

thread_local! {
    /// The registry tables' OIDs, until an invalidation of any of them moves
    /// `epoch::tables_epoch` on.
    static TABLE_OIDS: RefCell<SessionCache<&'static [u8], pg_sys::Oid>> =
        RefCell::new(SessionCache::following(epoch::tables_epoch));
}

/// The OID of `tenant.<table>`: the one place pg_tenant resolves its
/// registry tables (by name, through the catalog caches, then remembered
/// until an invalidation of one of them). Resolving tenant.tenants also tells the registry
/// epoch which relation's invalidation means "the registry changed".
pub fn registry_table(table: &'static CStr) -> error::Result<pg_sys::Oid> {
    let name = table.to_bytes();
    let read_at = TABLE_OIDS.with(|oids| oids.borrow().epoch_now());
    if let Some(relid) = TABLE_OIDS.with(|oids| oids.borrow().get(name).copied()) {
        return Ok(relid);
    }
    let relid = unsafe {
        let schema = pg_sys::get_namespace_oid(REGISTRY_SCHEMA.as_ptr(), true);
        pg_sys::get_relname_relid(table.as_ptr(), schema)
    };
    if relid == pg_sys::InvalidOid {
        return Err(error::damaged(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!(
                "pg_tenant's table tenant.{} is missing",
                table.to_string_lossy()
            ),
        ));
    }
    if table == TENANTS_TABLE {
        epoch::watch(relid);
    }
    epoch::watch_table(relid);
    TABLE_OIDS.with(|oids| oids.borrow_mut().insert_read_at(name, relid, read_at));
    Ok(relid)
}

/// Whether `relid` is one of pg_tenant's registry tables (a table of the
/// registry schema).
pub fn is_registry_table(relid: pg_sys::Oid) -> bool {
    unsafe {
        let schema = pg_sys::get_namespace_oid(REGISTRY_SCHEMA.as_ptr(), true);
        schema != pg_sys::InvalidOid
            && pg_sys::get_rel_namespace(relid) == schema
            && pg_sys::get_rel_relkind(relid) == pg_sys::RELKIND_RELATION as std::ffi::c_char
    }
}

/// Locks `relid` with AccessShareLock, then reads its pg_class row from the
/// catalog cache and passes it to `read`. The lock takes in every catalog
/// change committed before it, and none that needs a stronger lock (a change
/// of owner, of kind, a rewrite) can commit while it is held, so the row is
/// the current one in every isolation level. The lock stays held when the
/// row exists (the caller keeps it to the end of the transaction or releases
/// it with `unlock_class`); when it does not, it is released and the result
/// is None.
pub fn with_locked_class<T>(
    relid: pg_sys::Oid,
    read: impl FnOnce(&pg_sys::FormData_pg_class) -> T,
) -> Option<T> {
    // SAFETY: the syscache tuple is a pg_class row, released before return;
    // `read` sees it only for the call.
    unsafe {
        pg_sys::LockRelationOid(relid, CLASS_LOCK);
        let tuple = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::RELOID as i32,
            pg_sys::Datum::from(relid),
        );
        if tuple.is_null() {
            pg_sys::UnlockRelationOid(relid, CLASS_LOCK);
            return None;
        }
        let value = read(&*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple));
        pg_sys::ReleaseSysCache(tuple);
        Some(value)
    }
}

/// Releases the lock `with_locked_class` took and kept.
pub fn unlock_class(relid: pg_sys::Oid) {
    // SAFETY: called only after `with_locked_class` returned Some for
    // `relid` in this transaction.
    unsafe { pg_sys::UnlockRelationOid(relid, CLASS_LOCK) }
}

const CLASS_LOCK: pg_sys::LOCKMODE = pg_sys::AccessShareLock as pg_sys::LOCKMODE;

/// The 0-based position of `column` in `desc`, a row of `tenant.<table>`.
///
/// # Safety
/// `desc` is a valid tuple descriptor.
pub unsafe fn column_index(
    desc: pg_sys::TupleDesc,
    table: &CStr,
    column: &CStr,
) -> error::Result<usize> {
    let attnum = unsafe { pg_sys::SPI_fnumber(desc, column.as_ptr()) };
    if attnum <= 0 {
        return Err(error::damaged(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!(
                "pg_tenant's table tenant.{} has no column {}",
                table.to_string_lossy(),
                column.to_string_lossy()
            ),
        ));
    }
    Ok(attnum as usize - 1)
}

fn missing_primary_key(table: &CStr) -> pgrx::pg_sys::panic::ErrorReport {
    error::damaged(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!(
            "pg_tenant's table tenant.{} has no primary key",
            table.to_string_lossy()
        ),
    )
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;
    use pgrx::Uuid;

    fn header(tenant: Uuid) -> Option<(Option<String>, Option<String>)> {
        let key = *tenant.as_bytes();
        super::by_primary_key(c"tenants", &[super::uuid_key(&key)], |row| {
            Ok((row.text(c"slug")?, row.text(c"status")?))
        })
        .unwrap()
    }

    #[pg_test]
    fn finds_a_row_created_earlier_in_the_same_transaction() {
        let tenant = Spi::get_one::<Uuid>("SELECT tenant_create('Lookup one', 'lookup-one')")
            .unwrap()
            .unwrap();
        assert_eq!(
            header(tenant),
            Some((Some("lookup-one".into()), Some("active".into())))
        );
        Spi::run_with_args(
            "UPDATE tenant.tenants SET status = 'suspended' WHERE id = $1",
            &[tenant.into()],
        )
        .unwrap();
        assert_eq!(header(tenant).unwrap().1.as_deref(), Some("suspended"));
        assert_eq!(header(Uuid::from_bytes([9; 16])), None);
    }

    #[pg_test]
    fn reads_text_and_composite_keys_and_null_columns() {
        Spi::run(
            "CREATE TABLE lookup_items (id bigserial PRIMARY KEY, tenant_id uuid);
             SELECT tenant_enable('lookup_items');
             SELECT tenant_plan_quota_set('pro', 'lookup_items', 12);",
        )
        .unwrap();
        let plan = "pro".into_datum().unwrap();
        let members = super::by_primary_key(c"plans", &[plan], |row| {
            Ok((
                row.bigint(c"max_members")?,
                row.bigint(c"max_api_requests_per_month")?,
            ))
        })
        .unwrap();
        assert_eq!(members, Some((Some(25), Some(1_000_000))));
        let relid = Spi::get_one::<pg_sys::Oid>("SELECT 'lookup_items'::regclass::oid")
            .unwrap()
            .unwrap();
        let max_rows = |row: &super::Row| row.bigint(c"max_rows");
        let plan = "pro".into_datum().unwrap();
        let key = [plan, pg_sys::Datum::from(relid)];
        assert_eq!(
            super::by_primary_key(c"plan_row_limits", &key, max_rows).unwrap(),
            Some(Some(12))
        );
        let other_plan = "free".into_datum().unwrap();
        let key = [other_plan, pg_sys::Datum::from(relid)];
        assert_eq!(
            super::by_primary_key(c"plan_row_limits", &key, max_rows).unwrap(),
            None
        );
        // A tenant moved off its plan: the column reads as NULL.
        let tenant =
            Spi::get_one::<Uuid>("SELECT tenant_create('Lookup two', 'lookup-two', plan => 'pro')")
                .unwrap()
                .unwrap();
        Spi::run_with_args(
            "UPDATE tenant.tenants SET plan = NULL WHERE id = $1",
            &[tenant.into()],
        )
        .unwrap();
        let key = *tenant.as_bytes();
        let plan = super::by_primary_key(c"tenants", &[super::uuid_key(&key)], |row| {
            row.text(c"plan")
        });
        assert_eq!(plan.unwrap(), Some(None));
    }

    #[pg_test(
        error = "pg_tenant: lookup in tenant.usage_by_table with 1 key values for 3 key columns"
    )]
    fn refuses_a_key_that_does_not_match_the_primary_key() {
        let key = [0u8; 16];
        let result = super::by_primary_key(c"usage_by_table", &[super::uuid_key(&key)], |_| Ok(()));
        result.unwrap_or_else(|e| crate::error::raise(e));
    }

    #[pg_test(error = "pg_tenant: pg_tenant's table tenant.tenants has no column nickname")]
    fn names_a_missing_column() {
        let tenant = Spi::get_one::<Uuid>("SELECT tenant_create('Lookup three', 'lookup-three')")
            .unwrap()
            .unwrap();
        let key = *tenant.as_bytes();
        let result = super::by_primary_key(c"tenants", &[super::uuid_key(&key)], |row| {
            row.text(c"nickname")
        });
        result.unwrap_or_else(|e| crate::error::raise(e));
    }
}

/// pg_inherits and its index on (inhrelid, inhseqno): fixed OIDs of the
/// system catalogs, the same in every release.
const INHERITS: u32 = 2611;
const INHERITS_RELID_SEQNO_INDEX: u32 = 2680;

/// The direct parents of `relid` (partition parent, inheritance parents),
/// read from pg_inherits with the catalog snapshot: the state after every
/// invalidation this session has taken in, whatever the isolation level
/// (an SPI query under REPEATABLE READ would read the transaction's
/// snapshot, older than the DDL whose invalidation brought the caller
/// here).
pub fn inheritance_parents(relid: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let mut parents = Vec::new();
    // SAFETY: an index scan of a system catalog with one equality key on
    // its index's first column, the catalog open and locked meanwhile;
    // inhparent is its second column, never NULL.
    unsafe {
        let rel = pg_sys::table_open(INHERITS.into(), pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let mut key = pg_sys::ScanKeyData::default();
        pg_sys::ScanKeyInit(
            &mut key,
            1,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_OIDEQ),
            pg_sys::Datum::from(relid),
        );
        let scan = pg_sys::systable_beginscan(
            rel,
            INHERITS_RELID_SEQNO_INDEX.into(),
            true,
            std::ptr::null_mut(),
            1,
            &mut key,
        );
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            let mut is_null = false;
            let parent = pg_sys::heap_getattr(tuple, 2, (*rel).rd_att, &mut is_null);
            if !is_null {
                parents.push(pg_sys::Oid::from(parent.value() as u32));
            }
        }
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    }
    parents
}

// Not in pgrx's bindings (pg_inherits.h).
#[cfg_attr(target_os = "windows", link(name = "postgres"))]
unsafe extern "C-unwind" {
    fn find_all_inheritors(
        parent: pg_sys::Oid,
        lockmode: pg_sys::LOCKMODE,
        numparents: *mut *mut pg_sys::List,
    ) -> *mut pg_sys::List;
}

/// `relid` and every table below it (partitions and inheritance children,
/// any depth), parents first, read from pg_inherits with the catalog
/// snapshot as Postgres' own recursive DDL reads them. With `lock`, each is
/// locked in that mode in that order (`relid` first), waiting for writers.
pub fn tree_of(relid: pg_sys::Oid, lock: Option<pg_sys::LOCKMODE>) -> Vec<pg_sys::Oid> {
    // SAFETY: with NoLock the walk takes no lock and waits for nothing; the
    // locks are then taken through pgrx's guarded LockRelationOid.
    let tree: Vec<pg_sys::Oid> = unsafe {
        let list = find_all_inheritors(
            relid,
            pg_sys::NoLock as pg_sys::LOCKMODE,
            std::ptr::null_mut(),
        );
        pgrx::PgList::<pg_sys::Oid>::from_pg(list)
            .iter_oid()
            .collect()
    };
    if let Some(mode) = lock {
        for table in &tree {
            // SAFETY: a lock on a relation by OID (one dropped meanwhile is
            // simply not found by what follows).
            unsafe { pg_sys::LockRelationOid(*table, mode) };
        }
    }
    tree
}

/// `tenant.tables.track_usage` of a table (None: not registered), read as
/// `by_primary_key` reads (the latest committed state).
pub fn tracks_usage(relid: pg_sys::Oid) -> error::Result<Option<bool>> {
    Ok(
        by_primary_key(c"tables", &[pg_sys::Datum::from(relid)], |row| {
            row.boolean(c"track_usage")
        })?
        .flatten(),
    )
}
