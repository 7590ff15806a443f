//! How many bytes a row counts for in the storage quota.
//!
//! The size of the data itself, independent of how Postgres stores it: each
//! non-NULL value counts its uncompressed size (a varlena without its length
//! header, whether it sits inline, compressed or in the TOAST table), plus
//! `ROW_OVERHEAD` per row. The counting triggers see rows in transition tables
//! and reconciliation sees them as whole-row values; both forms give the same
//! figure, so the incremental counters and a recount agree to the byte.
//! Reading a TOAST pointer's recorded size never fetches the value.

use pgrx::prelude::*;
use pgrx::{AnyElement, PgTupleDesc};

/// Bytes counted per row on top of its values (a heap tuple header).
pub const ROW_OVERHEAD: i64 = 24;

/// The size of one row given its deformed values.
///
/// # Safety
/// `values` and `nulls` must hold `tupdesc.len()` entries that belong to a
/// tuple of `tupdesc`, valid for the duration of the call.
pub unsafe fn row_bytes(tupdesc: &PgTupleDesc, values: &[pg_sys::Datum], nulls: &[bool]) -> i64 {
    let mut total = ROW_OVERHEAD;
    for (i, attr) in tupdesc.iter().enumerate() {
        if attr.attisdropped || nulls[i] {
            continue;
        }
        total += unsafe { value_bytes(attr.attlen, values[i]) };
    }
    total
}

/// The uncompressed size of one value, without a varlena's length header.
unsafe fn value_bytes(attlen: i16, value: pg_sys::Datum) -> i64 {
    match attlen {
        // Varlena: toast_raw_datum_size reads the raw size from the TOAST
        // pointer or the compression header, and counts a 4-byte header for
        // every form (short headers included).
        -1 => unsafe { pg_sys::toast_raw_datum_size(value) as i64 - pg_sys::VARHDRSZ as i64 },
        // cstring: its bytes and the terminating zero.
        -2 => unsafe {
            std::ffi::CStr::from_ptr(value.cast_mut_ptr())
                .to_bytes_with_nul()
                .len() as i64
        },
        fixed => i64::from(fixed),
    }
}

/// SQL that counts the rows and bytes per tenant of `tables` (each read
/// `ONLY`, its rows whole in its own row type) the way the usage triggers
/// count them: (tenant_id, rows, bytes), one row per tenant. Each name must
/// be quoted by Postgres (`identity::relation_label`) and `schema` be the
/// extension's quoted schema; with `one_tenant`, `$1` names the tenant.
pub fn per_tenant_totals_sql(schema: &str, tables: &[String], one_tenant: bool) -> String {
    let filter = if one_tenant {
        "WHERE counted_rows.tenant_id = $1"
    } else {
        ""
    };
    let scans = tables
        .iter()
        .map(|table| {
            format!("SELECT m.tenant_id, {schema}._tenant_row_bytes(m.*) AS bytes FROM ONLY {table} AS m")
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!(
        "SELECT counted_rows.tenant_id, count(*), sum(counted_rows.bytes)::bigint
           FROM ({scans}) AS counted_rows {filter}
          GROUP BY 1 ORDER BY 1"
    )
}

/// `_tenant_row_bytes(row)`: the size a whole row counts for, used by
/// reconciliation as `sum(_tenant_row_bytes(t.*))`.
#[pg_extern(immutable, strict, parallel_restricted)]
fn _tenant_row_bytes(row: AnyElement) -> i64 {
    // SAFETY: a whole-row value is a composite datum; its tuple descriptor is
    // looked up (and released) by PgHeapTuple's rules, and the deformed values
    // point into the detoasted copy, which lives until the end of the call.
    unsafe {
        let header =
            pg_sys::pg_detoast_datum(row.datum().cast_mut_ptr()) as pg_sys::HeapTupleHeader;
        let typid = pgrx::heap_tuple_header_get_type_id(header);
        let typmod = pgrx::heap_tuple_header_get_typmod(header);
        let tupdesc = PgTupleDesc::from_pg(pg_sys::lookup_rowtype_tupdesc(typid, typmod));
        let mut tuple = pg_sys::HeapTupleData {
            t_len: pgrx::heap_tuple_header_get_datum_length(header) as u32,
            t_data: header,
            ..Default::default()
        };
        let natts = tupdesc.len();
        let mut values = vec![pg_sys::Datum::from(0); natts];
        let mut nulls = vec![false; natts];
        pg_sys::heap_deform_tuple(
            &mut tuple,
            tupdesc.as_ptr(),
            values.as_mut_ptr(),
            nulls.as_mut_ptr(),
        );
        row_bytes(&tupdesc, &values, &nulls)
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn bytes(sql: &str) -> i64 {
        Spi::get_one::<i64>(sql).unwrap().unwrap()
    }

    #[pg_test]
    fn values_count_their_uncompressed_size() {
        Spi::run("CREATE TABLE sized (id int, note text, blob bytea)").unwrap();
        Spi::run("INSERT INTO sized VALUES (1, 'abc', NULL)").unwrap();
        // 24 per row + 4 (int) + 3 (text without its header); NULL counts 0.
        assert_eq!(bytes("SELECT _tenant_row_bytes(s.*) FROM sized s"), 31);
    }

    #[pg_test]
    fn compressed_and_toasted_values_count_in_full() {
        Spi::run("CREATE TABLE big (note text)").unwrap();
        // Compresses well and is stored out of line: still 100,000 bytes.
        Spi::run("INSERT INTO big SELECT repeat('x', 100000)").unwrap();
        Spi::run("ALTER TABLE big ALTER COLUMN note SET STORAGE EXTERNAL").unwrap();
        Spi::run("INSERT INTO big SELECT repeat('y', 100000)").unwrap();
        assert_eq!(
            bytes("SELECT sum(_tenant_row_bytes(b.*))::bigint FROM big b"),
            2 * (24 + 100_000)
        );
        assert!(bytes("SELECT pg_column_size(note)::bigint FROM big LIMIT 1") < 100_000);
    }
}
