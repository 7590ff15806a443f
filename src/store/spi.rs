//! SPI helpers. Values always travel as `$n` parameters; the only text
//! pasted into SQL is identifiers quoted by Postgres itself.

use crate::error::{self, Result};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiResult};
use pgrx::PgOid;
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    /// Plans of the statements that can run for every write (creating a
    /// tenant's counter rows), prepared once per session. Keyed by the
    /// address of their static text.
    static SAVED_PLANS: RefCell<HashMap<usize, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
}

/// Runs a query that returns at most one row and one column.
pub fn one<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Result<Option<T>> {
    Spi::connect(|client| client.select(sql, Some(1), args)?.first().get_one::<T>())
        .or_else(no_rows_is_none)
        .map_err(error::internal)
}

/// Runs a query that returns at most one row of two columns.
pub fn two<A, B>(sql: &str, args: &[DatumWithOid]) -> Result<Option<(Option<A>, Option<B>)>>
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
{
    Spi::connect(|client| {
        let table = client.select(sql, Some(1), args)?;
        if table.is_empty() {
            return Ok(None);
        }
        table.first().get_two::<A, B>().map(Some)
    })
    .map_err(error::internal)
}

/// One row of three nullable columns.
pub type Row3<A, B, C> = (Option<A>, Option<B>, Option<C>);

/// Runs a query that returns at most one row of three columns.
pub fn three<A, B, C>(sql: &str, args: &[DatumWithOid]) -> Result<Option<Row3<A, B, C>>>
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
    C: FromDatum + IntoDatum,
{
    Spi::connect(|client| {
        let table = client.select(sql, Some(1), args)?;
        if table.is_empty() {
            return Ok(None);
        }
        table.first().get_three::<A, B, C>().map(Some)
    })
    .map_err(error::internal)
}

/// Runs a query and returns its first column for every row (NULLs skipped).
pub fn column<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Result<Vec<T>> {
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(sql, None, args)? {
            if let Some(v) = row.get::<T>(1)? {
                out.push(v);
            }
        }
        Ok(out)
    })
    .map_err(error::internal)
}

/// Runs a query and returns its first two columns for every row where both
/// are not NULL.
pub fn pairs<A, B>(sql: &str, args: &[DatumWithOid]) -> Result<Vec<(A, B)>>
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
{
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(sql, None, args)? {
            if let (Some(a), Some(b)) = (row.get::<A>(1)?, row.get::<B>(2)?) {
                out.push((a, b));
            }
        }
        Ok(out)
    })
    .map_err(error::internal)
}

/// Runs statements that change the database (DDL, DML), text as given.
pub fn execute(sql: &str, args: &[DatumWithOid]) -> Result<()> {
    Spi::connect_mut(|client| client.update(sql, None, args).map(|_| ())).map_err(error::internal)
}

/// Runs a data-changing or locking query (`INSERT ... RETURNING`,
/// `SELECT ... FOR UPDATE`) that returns at most one value; None when it
/// returns no row. Never with an SPI row limit: a limit stops `... RETURNING`
/// after that many rows, before the statement's AFTER STATEMENT triggers
/// (which count usage) are queued.
pub fn execute_one<T: FromDatum + IntoDatum>(
    sql: &str,
    args: &[DatumWithOid],
) -> Result<Option<T>> {
    Spi::connect_mut(|client| client.update(sql, None, args)?.first().get_one::<T>())
        .or_else(no_rows_is_none)
        .map_err(error::internal)
}

/// Runs a data-changing statement from a plan prepared once per session and
/// returns the first two columns of its first row (None when no row).
///
/// Saved plans are for the statements that can run per write (creating a
/// tenant's counter row); parsing and planning would cost more than running
/// them.
/// The text is parsed again whenever `search_path` changes, so it must name
/// everything with its schema, operators included (`OPERATOR(pg_catalog.+)`):
/// callers run it as the registry owner without pinning `search_path`.
pub fn saved_two<A, B>(
    sql: &'static str,
    types: &[PgOid],
    args: &[DatumWithOid],
) -> Result<Option<(Option<A>, Option<B>)>>
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
{
    // The plan is taken out of the cache while it runs, so a nested use of
    // the same text (a trigger fired by it) prepares its own instead of
    // sharing it.
    let key = sql.as_ptr() as usize;
    Spi::connect_mut(|client| {
        let plan = match SAVED_PLANS.with(|plans| plans.borrow_mut().remove(&key)) {
            Some(plan) => plan,
            None => client.prepare_mut(sql, types)?.keep(),
        };
        let result = client.update(&plan, None, args).and_then(|table| {
            if table.is_empty() {
                return Ok(None);
            }
            table.first().get_two::<A, B>().map(Some)
        });
        SAVED_PLANS.with(|plans| plans.borrow_mut().insert(key, plan));
        result
    })
    .map_err(error::internal)
}

fn no_rows_is_none<T>(err: pgrx::spi::SpiError) -> SpiResult<Option<T>> {
    match err {
        pgrx::spi::SpiError::InvalidPosition => Ok(None),
        other => Err(other),
    }
}

/// The schema pg_tenant's functions live in, quoted for use in SQL text.
/// Generated policies and triggers name functions through it, so they work
/// whatever `search_path` the application uses.
pub fn extension_schema() -> Result<String> {
    one::<String>(
        "SELECT pg_catalog.quote_ident(n.nspname::text)
           FROM pg_catalog.pg_extension e
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
          WHERE e.extname OPERATOR(pg_catalog.=) 'pg_tenant'",
        &[],
    )?
    .ok_or_else(|| {
        error::report(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "the pg_tenant extension is not installed in this database",
            "Run CREATE EXTENSION pg_tenant first.",
        )
    })
}

/// How many rows `digest_rows` fetches at a time.
const DIGEST_BATCH: i64 = 1000;

/// SHA-256 over lines, each value followed by a newline, and how many:
/// the digest of erasure records and of exports.
#[derive(Default)]
pub struct LineDigest {
    hasher: sha2::Sha256,
    pub lines: i64,
}

impl LineDigest {
    pub fn add(&mut self, line: &str) {
        use sha2::Digest;
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        self.lines += 1;
    }

    /// The lowercase hex digest.
    pub fn finish(self) -> String {
        use sha2::Digest;
        hex(&self.hasher.finalize())
    }
}

/// Runs a data-changing query (a `WITH ... DELETE ... RETURNING` whose outer
/// SELECT returns one text column) and streams that column, in the order the
/// query gives, into a `LineDigest`: returns how many rows and the digest.
/// The rows come through `stream_rows`, a batch at a time: memory stays
/// bounded however many rows there are (the statement's own result spills
/// to disk past `work_mem`). Callers fix how values print
/// (`identity::with_canonical_output`).
pub fn digest_rows(sql: &str, args: &[DatumWithOid]) -> Result<(i64, String)> {
    let mut digest = LineDigest::default();
    stream(sql, args, DIGEST_BATCH, false, |values, nulls| {
        // SAFETY: the one column is text (NULL counts as an empty line).
        let text = (!nulls[0])
            .then(|| unsafe { <&str>::from_datum(values[0], false) })
            .flatten();
        digest.add(text.unwrap_or_default());
        Ok(())
    })?;
    Ok((digest.lines, digest.finish()))
}

/// Lowercase hex, as SQL's encode(..., 'hex') prints bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a read-only query through a cursor and hands each row's values
/// (`Datum`s and NULL flags, valid only during the call) to `row`, `batch`
/// rows at a time, each batch freed before the next, and with it whatever
/// `row` allocated in Postgres memory meanwhile (the callbacks of a batch
/// run in a memory context of their own, reset after it): memory stays
/// bounded however many rows there are (a sort in the query spills past
/// `work_mem`). The query reads with the snapshot of the statement that
/// called pg_tenant (SPI's read-only mode), so that several queries see one
/// state of the database.
pub fn stream_rows(
    sql: &str,
    args: &[DatumWithOid],
    batch: i64,
    row: impl FnMut(&[pg_sys::Datum], &[bool]) -> Result<()>,
) -> Result<()> {
    stream(sql, args, batch, true, row)
}

/// `stream_rows`, or, not `read_only`, a query that changes data (run with
/// a snapshot of its own, as any SPI write).
fn stream(
    sql: &str,
    args: &[DatumWithOid],
    batch: i64,
    read_only: bool,
    mut row: impl FnMut(&[pg_sys::Datum], &[bool]) -> Result<()>,
) -> Result<()> {
    let sql = std::ffi::CString::new(sql).map_err(|_| error::bug("a query holds a NUL byte"))?;
    let mut types: Vec<pg_sys::Oid> = args.iter().map(|a| a.oid()).collect();
    let mut values: Vec<pg_sys::Datum> = args
        .iter()
        .map(|a| {
            a.datum()
                .map_or(pg_sys::Datum::from(0), |d| d.sans_lifetime())
        })
        .collect();
    let nulls: Vec<std::ffi::c_char> = args
        .iter()
        .map(|a| if a.datum().is_some() { b' ' } else { b'n' } as std::ffi::c_char)
        .collect();
    // The callbacks' memory, deleted when this returns (or unwinds).
    let scratch_owner = pgrx::PgMemoryContexts::new("pg_tenant stream_rows");
    let scratch = scratch_owner.value();
    // SAFETY: plain SPI calls, paired; an error aborts the (sub)transaction,
    // which closes the cursor and the connection.
    unsafe {
        if pg_sys::SPI_connect() < 0 {
            return Err(error::bug("SPI_connect failed"));
        }
        // NO SCROLL: the rows are read once, forward; a scrollable cursor
        // (SPI's default when the plan could run backwards) would make a
        // sort keep its result for random access.
        let plan = pg_sys::SPI_prepare_cursor(
            sql.as_ptr(),
            types.len() as i32,
            types.as_mut_ptr(),
            pg_sys::CURSOR_OPT_NO_SCROLL as i32,
        );
        if plan.is_null() {
            return Err(error::bug("SPI_prepare failed"));
        }
        let portal = pg_sys::SPI_cursor_open(
            std::ptr::null(),
            plan,
            values.as_mut_ptr(),
            nulls.as_ptr(),
            read_only,
        );
        let mut outcome = Ok(());
        'fetch: loop {
            pg_sys::SPI_cursor_fetch(portal, true, batch as _);
            let table = pg_sys::SPI_tuptable;
            let count = pg_sys::SPI_processed as usize;
            if table.is_null() || count == 0 {
                break;
            }
            let desc = (*table).tupdesc;
            let width = (*desc).natts as usize;
            let mut datums = vec![pg_sys::Datum::from(0); width];
            let mut is_null = vec![false; width];
            let previous = pg_sys::MemoryContextSwitchTo(scratch);
            for i in 0..count {
                let tuple = *(*table).vals.add(i);
                for c in 0..width {
                    datums[c] = pg_sys::SPI_getbinval(tuple, desc, c as i32 + 1, &mut is_null[c]);
                }
                if let Err(e) = row(&datums, &is_null) {
                    outcome = Err(e);
                    pg_sys::MemoryContextSwitchTo(previous);
                    pg_sys::SPI_freetuptable(table);
                    break 'fetch;
                }
            }
            pg_sys::MemoryContextSwitchTo(previous);
            pg_sys::MemoryContextReset(scratch);
            pg_sys::SPI_freetuptable(table);
            if (count as i64) < batch {
                break;
            }
        }
        pg_sys::SPI_cursor_close(portal);
        pg_sys::SPI_finish();
        outcome
    }
}
