//! Moving a tenant: `tenant_export(t)` returns every row of one tenant —
//! its registry rows and its rows of every tenant-scoped table — as a set of
//! rows in an order that loads back; `tenant_import(source, id, slug)` loads
//! such an export (kept in a table, e.g. by `\copy`) into this or another
//! database, under the same or a new tenant id and slug.
//!
//! An export is rows `(seq, kind, relation, data)`, in `seq` order:
//! - `header`: what it is (`{"format": "pg_tenant export", "version": 1,
//!   "tenant": {"id", "slug"}, "exported_at", "extension_version"}`);
//! - per table, `table` (`{"columns": [...]}`) then one `row` per row, each
//!   `data` an object of the row's columns as text (each value printed by
//!   its type's output function with fixed settings, read back by its input
//!   function: exact for every type; never through a cast to or from text,
//!   which a type's owner may define to run code of their own), NULL as
//!   JSON null. The tenant's own
//!   column (`tenant_id`, `id` in `tenant.tenants`) is left out: the import
//!   names the tenant. Generated columns are left out: they are computed
//!   again. Rows of a table come in primary-key order (byte order of
//!   their text when there is no primary key);
//! - `end`: per table the rows and SHA-256 over their `data::text`, one per
//!   line, in order. The import recomputes both and refuses an export that
//!   does not match, so a cut-off or damaged file can never be loaded as a
//!   smaller tenant (plain SHA-256: it does not stop someone who edits rows
//!   and recomputes the end row).
//!
//! Tables come parents first: `tenant.tenants`, the other registry tables
//! of the tenant (members, domains, settings, row limits, API request
//! counts, audit entries; not usage counters, which the import's own writes
//! count again), then the tenant-scoped tables, each before the tables that
//! reference it. Partitions come through their partitioned table.
//!
//! Rights: both functions are for operators (EXECUTE is granted to
//! `tenant_admin`). The export reads a table only if the caller may SELECT
//! it, the import writes one only if the caller may INSERT into it; the
//! rows are read and written as the table's owner (`identity::as_table_owner`,
//! as `tenant_purge` deletes them), so that the table's own triggers and
//! defaults run with its owner's rights, never the registry owner's. The
//! import reads its source table as the caller.

use crate::enforce::usage;
use crate::error::{self, Result};
use crate::names::{BYPASS_POLICY, ISOLATION_POLICY, TENANTS_TABLE, TENANT_COLUMN};
use crate::registry::tenants::{self, Tenant};
use crate::store::{identity, lookup, spi, srf::Materialized};
use crate::tables::state::{self, RowEvent};
use pgrx::prelude::*;
use pgrx::spi::{quote_identifier, quote_literal};
use pgrx::{PgRelation, Uuid};

/// The export's `header.format`.
const FORMAT: &str = "pg_tenant export";
/// The export's `header.version`: what this code writes and reads.
const VERSION: i64 = 1;
/// Rows fetched, and rows inserted, per statement.
const BATCH: i64 = 1000;
/// Registry tables with a `tenant_id` that an export leaves out: erasure
/// records outlive the tenant where they were written; usage counters are
/// counted again by the import's writes.
const NOT_EXPORTED: [&str; 3] = ["erasures", "usage_totals", "usage_by_table"];

/// One table of an export.
#[derive(Clone)]
struct Part {
    relid: pg_sys::Oid,
    /// Quoted and qualified, as the export names it.
    relation: String,
    /// The column that names the tenant (`tenant_id`, or `id` for tenants).
    tenant_column: String,
    registry: bool,
    /// Read with ONLY: rows of inheritance children come with the child.
    only: bool,
    /// The columns exported, in column order.
    columns: Vec<String>,
}

/// What one table gave or took: rows and SHA-256 over their `data::text`.
pub struct Summary {
    pub relation: String,
    pub rows: i64,
    pub sha256: String,
}

impl Summary {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({"relation": self.relation, "rows": self.rows, "sha256": self.sha256})
    }
}

/// The tables of an export, in load order.
fn parts() -> Result<Vec<Part>> {
    identity::as_registry_owner(parts_in_order)
}

fn parts_in_order() -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    let registry = {
        spi::pairs::<pg_sys::Oid, String>(
            "SELECT c.oid, c.relname::text
               FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped
              WHERE c.relnamespace = 'tenant'::pg_catalog.regnamespace AND c.relkind = 'r'
                AND c.relname::text <> ALL ($2)
              ORDER BY c.relname",
            &[
                TENANT_COLUMN.into(),
                NOT_EXPORTED.iter().map(|s| s.to_string()).collect::<Vec<_>>().into(),
            ],
        )
    }?;
    let tenants = lookup::registry_table(TENANTS_TABLE)?;
    parts.push(part(tenants, "tenant.tenants".into(), "id", true, true)?);
    for (relid, name) in registry {
        let relation = format!("tenant.{}", quote_identifier(&name));
        parts.push(part(relid, relation, TENANT_COLUMN, true, true)?);
    }
    // A plain table is read ONLY, its tenant-scoped children on their own:
    // a child that is not tenant-scoped would be in neither, and its rows
    // lost to a move (export, import elsewhere, purge here). Refused.
    let through = super::erasure::with_unregistered_children()?;
    if let Some(parent) = through
        .iter()
        .map(|o| pg_sys::Oid::from(*o))
        .find(|o| unsafe { pg_sys::get_rel_relkind(*o) } as u8 == pg_sys::RELKIND_RELATION)
    {
        let parent = identity::relation_label(parent);
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("tenant_export: tenant-scoped {parent} has an inheritance child that is not tenant-scoped, whose rows the export would leave out"),
            "Make every inheritance child of it tenant-scoped first (SELECT tenant_enable('<child>'); tenant_check lists them under partition_without_isolation), then export again.",
        ));
    }
    // Parents before children: the purge's order, reversed.
    let mut tables = super::erasure::purge_order()?;
    tables.reverse();
    let through_parent = {
        spi::column::<pg_sys::Oid>(
            "SELECT c.oid FROM tenant.tables t JOIN pg_catalog.pg_class c ON c.oid = t.relid
              WHERE c.relispartition
                AND EXISTS (SELECT FROM pg_catalog.pg_partition_ancestors(c.oid) a
                             WHERE a.relid <> c.oid AND a.relid IN (SELECT relid FROM tenant.tables))",
            &[],
        )
    }?;
    for (relid, relation) in tables {
        if through_parent.contains(&relid) {
            continue;
        }
        let only = unsafe { pg_sys::get_rel_relkind(relid) } as u8 == pg_sys::RELKIND_RELATION;
        parts.push(part(relid, relation, TENANT_COLUMN, false, only)?);
    }
    Ok(parts)
}

fn part(
    relid: pg_sys::Oid,
    relation: String,
    tenant_column: &str,
    registry: bool,
    only: bool,
) -> Result<Part> {
    let columns = spi::column::<String>(
        "SELECT a.attname::text FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            AND a.attname <> $2
          ORDER BY a.attnum",
        &[relid.into(), tenant_column.into()],
    )?;
    Ok(Part {
        relid,
        relation,
        tenant_column: tenant_column.to_string(),
        registry,
        only,
        columns,
    })
}

/// Runs `f` as whoever reads and writes `part`'s rows: the registry owner
/// for registry tables, the table's owner for tenant-scoped ones.
fn as_part_owner<R>(part: &Part, f: impl FnOnce() -> Result<R>) -> Result<R> {
    if part.registry {
        identity::as_registry_owner(f)
    } else {
        identity::as_table_owner(part.relid, f)
    }
}

/// 42501 unless the caller (not pg_tenant) holds `mode` on `part`'s table.
fn require_privilege(
    part: &Part,
    (mode, privilege, verb): (u32, &str, &str),
    function: &str,
) -> Result<()> {
    if part.registry {
        return Ok(());
    }
    // SAFETY: a catalog check of the current role.
    let ok = unsafe { pg_sys::pg_class_aclcheck(part.relid, pg_sys::GetUserId(), mode as _) }
        == pg_sys::AclResult::ACLCHECK_OK;
    if ok {
        return Ok(());
    }
    Err(error::insufficient_privilege(
        format!("{function}: permission denied to {verb} table {}", part.relation),
        format!(
            "A tenant's rows are moved by a role that may {verb} every tenant-scoped table: GRANT {privilege} ON {} TO the role running {function}.",
            part.relation
        ),
    ))
}

// `tenant_export(t text)`: a set-returning C function in materialize mode
// (declared in sql/triggers.sql), so that a tenant of any size streams into
// a tuplestore that spills to disk instead of passing through Rust values.
#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo_tenant_export() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[pg_guard]
#[no_mangle]
#[doc(hidden)]
pub unsafe extern "C-unwind" fn tenant_export(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: called by Postgres with its fcinfo; argument 0 is text.
    let t = unsafe { pgrx::fcinfo::pg_getarg::<String>(fcinfo, 0) };
    let done = tenants::find(t.as_deref(), "tenant_export").and_then(|tenant| {
        // SAFETY: as above.
        let out = unsafe { Materialized::begin(fcinfo, "tenant_export") }?;
        identity::with_pinned_search_path(|| {
            identity::with_canonical_output(|| export(&tenant, &out))
        })
    });
    match done {
        Ok(()) => pg_sys::Datum::from(0),
        Err(e) => error::raise(e),
    }
}

/// Writes the export of `tenant` into `out`.
fn export(tenant: &Tenant, out: &Materialized) -> Result<()> {
    let parts = parts()?;
    for part in &parts {
        require_privilege(
            part,
            (pg_sys::ACL_SELECT, "SELECT", "select from"),
            "tenant_export",
        )?;
        refuse_unsafe(part, &part.columns, "tenant_export")?;
    }
    let mut seq: i64 = 0;
    let mut emit = |kind: &str, relation: Option<&str>, data: pg_sys::Datum| {
        seq += 1;
        let mut values = [
            seq.into_datum().unwrap_or(pg_sys::Datum::from(0)),
            kind.into_datum().unwrap_or(pg_sys::Datum::from(0)),
            relation
                .and_then(|r| r.into_datum())
                .unwrap_or(pg_sys::Datum::from(0)),
            data,
        ];
        let mut nulls = [false, false, relation.is_none(), false];
        out.put(&mut values, &mut nulls);
    };
    let json = |value: serde_json::Value| {
        pgrx::JsonB(value)
            .into_datum()
            .unwrap_or(pg_sys::Datum::from(0))
    };
    let exported_at = spi::one::<String>("SELECT pg_catalog.now()::pg_catalog.text", &[])?;
    emit(
        "header",
        None,
        json(serde_json::json!({
            "format": FORMAT,
            "version": VERSION,
            "tenant": {"id": tenant.id.to_string(), "slug": tenant.slug},
            "exported_at": exported_at,
            "extension_version": env!("CARGO_PKG_VERSION"),
        })),
    );
    // jsonb's input function, looked up once.
    let mut jsonb_input = Box::new(unsafe { std::mem::zeroed::<pg_sys::FmgrInfo>() });
    // SAFETY: fills the FmgrInfo in the call's memory.
    unsafe {
        let (mut function, mut io_param) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
        pg_sys::getTypeInputInfo(pg_sys::JSONBOID, &mut function, &mut io_param);
        pg_sys::fmgr_info(function, jsonb_input.as_mut());
    }
    let mut summaries = Vec::with_capacity(parts.len());
    for part in &parts {
        emit(
            "table",
            Some(&part.relation),
            json(serde_json::json!({"columns": part.columns})),
        );
        let mut digest = spi::LineDigest::default();
        as_part_owner(part, || {
            spi::stream_rows(
                &select_sql(part)?,
                &[tenant.id.into(), part.columns.clone().into()],
                BATCH,
                |values, _| {
                    // SAFETY: the one column is non-NULL text; jsonb_in
                    // reads the C string made of it (both in the batch's
                    // memory, freed after it).
                    let (text, jsonb) = unsafe {
                        let text = <&str>::from_datum(values[0], false).unwrap_or_default();
                        let cstring = pg_sys::text_to_cstring(values[0].cast_mut_ptr());
                        let jsonb = pg_sys::InputFunctionCall(
                            jsonb_input.as_mut(),
                            cstring,
                            pg_sys::InvalidOid,
                            -1,
                        );
                        (text, jsonb)
                    };
                    digest.add(text);
                    emit("row", Some(&part.relation), jsonb);
                    Ok(())
                },
            )
        })?;
        summaries.push(Summary {
            relation: part.relation.clone(),
            rows: digest.lines,
            sha256: digest.finish(),
        });
    }
    let total: i64 = summaries.iter().map(|s| s.rows).sum();
    emit(
        "end",
        None,
        json(serde_json::json!({
            "rows": total,
            "tables": summaries.iter().map(Summary::json).collect::<Vec<_>>(),
        })),
    );
    Ok(())
}

/// The query that reads one table's rows of the tenant ($1): the text of
/// the row as a JSON object of its columns' text ($2 the names), in the
/// order of the table's primary key (an index scan: no sort, whose memory
/// grew with the tenant), or sorted byte by byte when it has none. Each
/// value is printed by its type's output function (`format('%s', ...)`,
/// NULL kept apart by `num_nulls`), never by a cast to text, which its
/// type's owner may have defined (CREATE CAST) to run code of their own;
/// `export` reads the jsonb back from the text.
fn select_sql(part: &Part) -> Result<String> {
    let values: Vec<String> = part
        .columns
        .iter()
        .map(|c| {
            let c = format!("t.{}", quote_identifier(c));
            format!("CASE WHEN pg_catalog.num_nulls({c}) OPERATOR(pg_catalog.=) 1 THEN NULL ELSE pg_catalog.format('%s', {c}) END")
        })
        .collect();
    let row = format!(
        "SELECT pg_catalog.jsonb_object($2::pg_catalog.text[], ARRAY[{values}]::pg_catalog.text[])::pg_catalog.text AS x
           FROM {only}{relation} AS t
          WHERE t.{column} OPERATOR(pg_catalog.=) $1",
        values = values.join(", "),
        only = if part.only { "ONLY " } else { "" },
        relation = part.relation,
        column = quote_identifier(&part.tenant_column),
    );
    let key = crate::tables::catalog::primary_key(part.relid)?;
    Ok(if key.is_empty() {
        format!("SELECT s.x FROM ({row}) AS s ORDER BY s.x COLLATE pg_catalog.\"C\"")
    } else {
        let key: Vec<String> = key
            .iter()
            .map(|c| format!("t.{}", quote_identifier(c)))
            .collect();
        format!("{row} ORDER BY {}", key.join(", "))
    })
}

/// `tenant_import(source regclass, id uuid, slug text)`: loads the export
/// held in `source` (columns seq, kind, relation, data), under `id` and
/// `slug` when given (else the exported ones). Returns per table the rows
/// loaded and their digest, as the export's `end` row lists them.
// pgrx must see `TableIterator` itself in the signature (an alias hides it).
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_import(
    source: Option<PgRelation>,
    id: default!(Option<Uuid>, "NULL"),
    slug: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(relation, Option<String>),
            name!(rows_imported, Option<i64>),
            name!(rows_sha256, Option<String>),
        ),
    >,
> {
    let source = source
        .ok_or_else(|| error::null_argument("tenant_import", "source"))?
        .oid();
    let loaded = Import::run(source, id, slug)?;
    Ok(TableIterator::new(
        loaded
            .into_iter()
            .map(|s| (Some(s.relation), Some(s.rows), Some(s.sha256))),
    ))
}

/// A table being loaded.
struct Loading {
    part: Part,
    /// The INSERT for a batch of rows.
    insert: String,
    /// Rows whose table references itself wait for the whole table, so that
    /// a row may come before the row it references.
    whole_table: bool,
    pending: Vec<String>,
    digest: spi::LineDigest,
}

/// An import in progress, fed the source's rows in `seq` order.
struct Import {
    source_label: String,
    /// The tenant imported, and the exported tenant's id.
    tenant: Option<Uuid>,
    exported: Option<Uuid>,
    /// Tenant-scoped tables loaded, whose sequences move once the export is
    /// known whole (setval is not undone by a rollback).
    loaded: Vec<(pg_sys::Oid, String)>,
    slug: Option<String>,
    /// Seen the header / the end row.
    started: bool,
    ended: bool,
    current: Option<Loading>,
    done: Vec<Summary>,
    registry: Vec<Part>,
    tables: Vec<Part>,
}

impl Import {
    fn run(source: pg_sys::Oid, id: Option<Uuid>, slug: Option<&str>) -> Result<Vec<Summary>> {
        let source_label = identity::relation_label(source);
        require_export_columns(source, &source_label)?;
        let slug = slug.map(tenants::checked_new_slug).transpose()?;
        let (registry, tables): (Vec<Part>, Vec<Part>) =
            parts()?.into_iter().partition(|p| p.registry);
        let mut import = Import {
            source_label,
            tenant: id,
            exported: None,
            loaded: Vec::new(),
            slug,
            started: false,
            ended: false,
            current: None,
            done: Vec::new(),
            registry,
            tables,
        };
        // The source is read as the caller, with the caller's rights.
        let sql = format!(
            "SELECT s.kind::pg_catalog.text, s.relation::pg_catalog.text, s.data::pg_catalog.text
               FROM {} AS s ORDER BY s.seq",
            import.source_label
        );
        identity::with_canonical_output(|| {
            spi::stream_rows(&sql, &[], BATCH, |values, nulls| {
                let text = |i: usize| -> Option<String> {
                    // SAFETY: the three columns are text.
                    (!nulls[i])
                        .then(|| unsafe { <&str>::from_datum(values[i], false) })
                        .flatten()
                        .map(str::to_string)
                };
                import.feed(text(0), text(1), text(2))
            })
        })?;
        if !import.ended {
            return Err(import.corrupt("it has no end row (it is incomplete)".into()));
        }
        Ok(import.done)
    }

    fn corrupt(&self, why: String) -> pgrx::pg_sys::panic::ErrorReport {
        error::report(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!(
                "tenant_import: {} is not a whole pg_tenant export: {why}; nothing was imported",
                self.source_label
            ),
            "Load the complete output of SELECT * FROM tenant_export(t) (for example with \\copy) and import it again.",
        )
    }

    /// One row of the source.
    fn feed(
        &mut self,
        kind: Option<String>,
        relation: Option<String>,
        data: Option<String>,
    ) -> Result<()> {
        if self.ended {
            return Err(self.corrupt("rows follow its end row".into()));
        }
        match (kind.as_deref(), self.started) {
            (Some("header"), false) => self.header(data),
            (_, false) => Err(self.corrupt("its first row is not a header".into())),
            (Some("table"), true) => self.table(relation, data),
            (Some("row"), true) => self.row(relation, data),
            (Some("end"), true) => self.end(data),
            (other, true) => Err(self.corrupt(format!(
                "it holds a row of kind {}",
                other.map_or("NULL".into(), |k| format!("\"{}\"", error::shorten(k)))
            ))),
        }
    }

    fn header(&mut self, data: Option<String>) -> Result<()> {
        let header: serde_json::Value =
            parse(data.as_deref()).ok_or_else(|| self.corrupt("its header is not JSON".into()))?;
        if header["format"] != FORMAT {
            return Err(
                self.corrupt("its header does not name the format \"pg_tenant export\"".into())
            );
        }
        match header["version"].as_i64() {
            Some(VERSION) => {}
            Some(v) => {
                return Err(error::report(
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("tenant_import: {} is an export of version {v}, which this pg_tenant cannot read (it reads version {VERSION})", self.source_label),
                    "Import it with the pg_tenant version that exported it, or a newer one.",
                ))
            }
            None => return Err(self.corrupt("its header has no version".into())),
        }
        let exported = header["tenant"]["id"]
            .as_str()
            .and_then(tenants::parse_uuid)
            .ok_or_else(|| self.corrupt("its header names no tenant id".into()))?;
        self.tenant.get_or_insert(exported);
        self.exported = Some(exported);
        self.started = true;
        Ok(())
    }

    fn table(&mut self, relation: Option<String>, data: Option<String>) -> Result<()> {
        self.finish_table()?;
        let relation = relation.ok_or_else(|| self.corrupt("a table row names no table".into()))?;
        let meta: serde_json::Value = parse(data.as_deref())
            .ok_or_else(|| self.corrupt(format!("the table row of {relation} is not JSON")))?;
        let columns: Vec<String> = meta["columns"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .ok_or_else(|| self.corrupt(format!("the table row of {relation} lists no columns")))?;
        let first = self.done.is_empty();
        if first != (relation == "tenant.tenants") {
            return Err(self.corrupt("its first table is not tenant.tenants".into()));
        }
        let part = self.target(&relation, &columns)?;
        refuse_unsafe(&part, &columns, "tenant_import")?;
        if !part.registry {
            require_privilege(
                &part,
                (pg_sys::ACL_INSERT, "INSERT", "insert into"),
                "tenant_import",
            )?;
        }
        let whole_table = !part.registry && references_itself(part.relid)?;
        let insert = insert_sql(&part, &columns)?;
        self.current = Some(Loading {
            part: Part { columns, ..part },
            insert,
            whole_table,
            pending: Vec::new(),
            digest: spi::LineDigest::default(),
        });
        Ok(())
    }

    /// This database's table for an exported one: a registry table, or a
    /// tenant-scoped table; each exported column must be one of its columns.
    fn target(&self, relation: &str, columns: &[String]) -> Result<Part> {
        let found = self
            .registry
            .iter()
            .chain(self.tables.iter())
            .find(|p| p.relation == relation);
        let Some(found) = found else {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "tenant_import: the export holds rows of {}, which is not a tenant-scoped table of this database; nothing was imported",
                    error::shorten(relation)
                ),
                "Create the table (run the application's migrations) and tenant_enable it before importing.",
            ));
        };
        if let Some(missing) = columns.iter().find(|c| !found.columns.contains(c)) {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                format!(
                    "tenant_import: the export holds column {} of {relation}, which this database's table does not have (or computes); nothing was imported",
                    quote_identifier(missing)
                ),
                "Bring this database's schema up to the exporting database's (run the application's migrations), then import again.",
            ));
        }
        Ok(found.clone())
    }

    fn row(&mut self, relation: Option<String>, data: Option<String>) -> Result<()> {
        let matches = self
            .current
            .as_ref()
            .is_some_and(|l| Some(&l.part.relation) == relation.as_ref());
        if !matches {
            return Err(self.corrupt("a row comes outside its table's section".into()));
        }
        let data = data.ok_or_else(|| self.corrupt("a row has no data".into()))?;
        let loading = self.current.as_mut().expect("checked above");
        loading.digest.add(&data);
        loading.pending.push(data);
        if loading.part.relation == "tenant.tenants" && loading.digest.lines > 1 {
            return Err(self.corrupt("it holds more than one tenant".into()));
        }
        if !loading.whole_table && loading.pending.len() as i64 >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Inserts the rows waiting.
    fn flush(&mut self) -> Result<()> {
        let tenant = self.tenant.expect("set by the header");
        let exported = self.exported.expect("set by the header");
        let slug = self.slug.clone();
        let Some(loading) = self.current.as_mut() else {
            return Ok(());
        };
        if loading.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut loading.pending);
        // SAFETY: reads the current role.
        let caller = unsafe { pg_sys::GetUserId() };
        // Audited tables record the import's rows as written by the caller.
        super::audit::while_acting_for(caller, || {
            as_part_owner(&loading.part, || {
                spi::execute(
                    &loading.insert,
                    &[
                        rows.into(),
                        tenant.into(),
                        slug.into(),
                        exported.to_string().into(),
                    ],
                )
            })
        })
    }

    /// Ends the table being loaded: its last rows, the tenant's conflicts
    /// checked first for tenant.tenants, its sequences moved past the ids
    /// loaded.
    fn finish_table(&mut self) -> Result<()> {
        if self
            .current
            .as_ref()
            .is_some_and(|l| l.part.relation == "tenant.tenants")
        {
            self.refuse_conflicts()?;
        }
        self.flush()?;
        let Some(loading) = self.current.take() else {
            return Ok(());
        };
        if loading.part.relation == "tenant.tenants" && loading.digest.lines != 1 {
            return Err(self.corrupt("it holds no tenant row".into()));
        }
        let tenant = self.tenant.expect("set by the header");
        match loading.part.relation.as_str() {
            // The tenant's counters start as tenant_create starts them; the
            // rows loaded next count themselves (the tables' triggers), the
            // members are counted here as tenant_member_add counts them
            // (refused past the member limit).
            "tenant.tenants" => identity::as_registry_owner(|| {
                spi::execute(
                    "INSERT INTO tenant.usage_totals (tenant_id) VALUES ($1)",
                    &[tenant.into()],
                )
            })?,
            "tenant.members" if loading.digest.lines > 0 => {
                usage::add_members(tenant, loading.digest.lines)?
            }
            _ if !loading.part.registry => self
                .loaded
                .push((loading.part.relid, loading.part.relation.clone())),
            _ => {}
        }
        self.done.push(Summary {
            relation: loading.part.relation,
            rows: loading.digest.lines,
            sha256: loading.digest.finish(),
        });
        Ok(())
    }

    /// 23505 when the id or slug the tenant is imported under is taken.
    fn refuse_conflicts(&self) -> Result<()> {
        let tenant = self.tenant.expect("set by the header");
        let exported_slug = self
            .current
            .as_ref()
            .and_then(|l| l.pending.first())
            .and_then(|d| parse(Some(d)))
            .and_then(|v: serde_json::Value| v["slug"].as_str().map(str::to_string));
        let slug = self.slug.clone().or(exported_slug);
        if tenants::lookup(&tenant.to_string())?.is_some() {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
                format!("tenant_import: a tenant with id {tenant} already exists in this database; nothing was imported"),
                "Import under a new id (tenant_import(source, id => gen_random_uuid(), slug => ...)), or, to replace that tenant with the export, purge it first in the same transaction (tenant_purge(t, force => true)).",
            ));
        }
        if let Some(slug) = slug {
            if tenants::lookup(&slug)?.is_some() {
                return Err(error::report(
                    PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
                    format!("tenant_import: a tenant with slug \"{}\" already exists in this database; nothing was imported", error::shorten(&slug)),
                    "Import under another slug: tenant_import(source, slug => 'new-slug').",
                ));
            }
        }
        Ok(())
    }

    fn end(&mut self, data: Option<String>) -> Result<()> {
        self.finish_table()?;
        let end: serde_json::Value =
            parse(data.as_deref()).ok_or_else(|| self.corrupt("its end row is not JSON".into()))?;
        let listed: Vec<serde_json::Value> = end["tables"].as_array().cloned().unwrap_or_default();
        let read: Vec<serde_json::Value> = self.done.iter().map(Summary::json).collect();
        if listed != read {
            let first_difference = read
                .iter()
                .zip(listed.iter())
                .find(|(r, l)| r != l)
                .map(|(r, l)| {
                    format!(
                        "{} has {} row(s) (SHA-256 {}), its end row lists {} ({})",
                        r["relation"].as_str().unwrap_or("?"),
                        r["rows"],
                        r["sha256"].as_str().unwrap_or("?"),
                        l["rows"],
                        l["sha256"].as_str().unwrap_or("?")
                    )
                })
                .unwrap_or_else(|| {
                    format!(
                        "it holds {} table(s), its end row lists {}",
                        read.len(),
                        listed.len()
                    )
                });
            return Err(self.corrupt(format!(
                "its rows do not match its end row ({first_difference})"
            )));
        }
        self.ended = true;
        self.advance_sequences()
    }

    /// Now that the export is known whole (setval is not undone by a
    /// rollback): moves every sequence of the tables loaded past the ids
    /// imported, once the caller is known to be allowed to move every one.
    fn advance_sequences(&self) -> Result<()> {
        let mut sequences = Vec::new();
        for (relid, relation) in &self.loaded {
            for (column, sequence, oid) in owned_sequences(*relid)? {
                // SAFETY: a catalog check of the current role (the caller).
                let allowed = unsafe {
                    pg_sys::pg_class_aclcheck(oid, pg_sys::GetUserId(), pg_sys::ACL_UPDATE as _)
                } == pg_sys::AclResult::ACLCHECK_OK;
                if !allowed {
                    return Err(error::insufficient_privilege(
                        format!("tenant_import: permission denied to move sequence {sequence} of {relation} past the ids imported"),
                        format!("GRANT UPDATE ON SEQUENCE {sequence} TO the role running tenant_import."),
                    ));
                }
                sequences.push((*relid, relation, column, sequence));
            }
        }
        for (relid, relation, column, sequence) in sequences {
            identity::as_table_owner(relid, || advance_sequence(relation, &column, &sequence))?;
        }
        Ok(())
    }
}

fn parse(text: Option<&str>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

/// 42804 unless `source` has the export's columns with their types.
fn require_export_columns(source: pg_sys::Oid, label: &str) -> Result<()> {
    let found = spi::column::<String>(
        "SELECT a.attname::text || ' ' || pg_catalog.format_type(a.atttypid, NULL)
           FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
        &[source.into()],
    )?;
    let wanted = ["seq bigint", "kind text", "relation text", "data jsonb"];
    if wanted.iter().all(|w| found.iter().any(|f| f == w)) {
        return Ok(());
    }
    Err(error::report(
        PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        format!("tenant_import: {label} does not have the columns of an export (seq bigint, kind text, relation text, data jsonb)"),
        "Keep the export in a table made for it: CREATE TABLE acme_export (seq bigint PRIMARY KEY, kind text, relation text, data jsonb), then \\copy acme_export FROM 'acme.export'.",
    ))
}

/// Refuses (55000, 0A000) a tenant-scoped table that moving its rows as its
/// owner would get wrong: row-level security policies of its own (the owner
/// reads and writes past them, the caller might not); and, for the import,
/// a column whose type has a cast from text defined by a role (it would
/// stand in for the type's input function, running its owner's code), or a
/// DEFERRABLE INITIALLY DEFERRED foreign key (its check cannot fire inside
/// the owner's security-restricted operation).
fn refuse_unsafe(part: &Part, columns: &[String], function: &str) -> Result<()> {
    if part.registry {
        return Ok(());
    }
    let relation = &part.relation;
    let policies = spi::column::<String>(
        "SELECT pg_catalog.quote_ident(p.polname::text) FROM pg_catalog.pg_policy p
          WHERE p.polrelid = $1 AND p.polname::text <> ALL ($2) ORDER BY 1",
        &[
            part.relid.into(),
            vec![ISOLATION_POLICY.to_string(), BYPASS_POLICY.to_string()].into(),
        ],
    )?;
    if !policies.is_empty() {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "{function}: {relation} has row-level security policies of its own ({}); nothing was moved",
                policies.join(", ")
            ),
            format!("{function} moves every row of the tenant as the table's owner, past such policies, so it refuses the table rather than ignore them: move that table's rows yourself, or drop the policies for the move."),
        ));
    }
    if function != "tenant_import" {
        return Ok(());
    }
    let casts = spi::column::<String>(
        "SELECT pg_catalog.quote_ident(a.attname::text) || ' ' || pg_catalog.format_type(a.atttypid, NULL)
           FROM pg_catalog.pg_attribute a
           JOIN pg_catalog.pg_type y ON y.oid = a.atttypid
           JOIN pg_catalog.pg_cast c ON c.castsource = 'pg_catalog.text'::pg_catalog.regtype
                                    AND c.casttarget IN (y.oid, y.typbasetype)
          WHERE a.attrelid = $1 AND a.attname::text = ANY ($2) AND c.castmethod <> 'i'
            AND c.oid >= 16384
          ORDER BY a.attnum",
        &[part.relid.into(), columns.to_vec().into()],
    )?;
    if !casts.is_empty() {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "{function}: column {} of {relation} has a type with a cast from text defined in this database; nothing was imported",
                casts.join(", ")
            ),
            "tenant_import reads every value back with its type's input function; a user-defined cast from text would run instead, as the table's owner. Drop the cast (or define it WITH INOUT) for the import.",
        ));
    }
    let deferred = state::deferred_triggers(part.relid, RowEvent::Insert)?;
    if !deferred.is_empty() {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "{function}: {relation} has INITIALLY DEFERRED foreign keys or triggers ({}); nothing was imported",
                deferred.join(", ")
            ),
            format!("tenant_import writes as the table's owner, where a deferred check cannot fire: make them immediate for the import (ALTER TABLE {relation} ALTER CONSTRAINT ... INITIALLY IMMEDIATE)."),
        ));
    }
    Ok(())
}

/// Whether a foreign key of the table references the table itself.
fn references_itself(relid: pg_sys::Oid) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_constraint k
                         WHERE k.contype = 'f' AND k.conrelid = $1 AND k.confrelid = $1)",
        &[relid.into()],
    )?
    .unwrap_or(false))
}

/// The audit log's columns whose JSON holds the row's tenant_id.
const JSON_WITH_TENANT: [&str; 3] = ["key", "old_values", "new_values"];

/// The INSERT of a batch ($1 the rows' data as text[], $2 the tenant, $3
/// the new slug or NULL, $4 the exported tenant's id): each column read back
/// from its text by its type's input function (`refuse_unsafe` made sure no
/// cast of the type's owner stands in for it), the tenant's column set to
/// the tenant imported.
fn insert_sql(part: &Part, columns: &[String]) -> Result<String> {
    let types = identity::with_pinned_search_path(|| {
        spi::pairs::<String, String>(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
            &[part.relid.into()],
        )
    })?;
    let type_of = |c: &str| types.iter().find(|(n, _)| n == c).map(|(_, t)| t.clone());
    let mut names = Vec::with_capacity(columns.len() + 1);
    let mut values = Vec::with_capacity(columns.len() + 1);
    for column in columns {
        let ty = type_of(column).ok_or_else(|| error::bug("an exported column has no type"))?;
        let mut value = format!("(u.d OPERATOR(pg_catalog.->>) {})", quote_literal(column));
        if part.relation == "tenant.audit_log" && JSON_WITH_TENANT.contains(&column.as_str()) {
            // The entries' keys and values name the tenant: the new one.
            value =
                format!("pg_catalog.replace({value}, $4::pg_catalog.text, $2::pg_catalog.text)");
        }
        if part.relation == "tenant.tenants" && column == "slug" {
            value = format!("COALESCE($3::pg_catalog.text, {value})");
        }
        names.push(quote_identifier(column));
        values.push(format!("{value}::{ty}"));
    }
    names.push(quote_identifier(&part.tenant_column));
    values.push("$2::pg_catalog.uuid".into());
    Ok(format!(
        "INSERT INTO {relation} ({names}) OVERRIDING SYSTEM VALUE
         SELECT {values}
           FROM (SELECT r.x::pg_catalog.jsonb AS d
                   FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS r(x, n)
                  ORDER BY r.n) AS u",
        relation = part.relation,
        names = names.join(", "),
        values = values.join(", "),
    ))
}

/// The sequences owned by the table's columns (serial, identity): column,
/// sequence (quoted, qualified) and its OID.
fn owned_sequences(relid: pg_sys::Oid) -> Result<Vec<(String, String, pg_sys::Oid)>> {
    let rows = spi::pairs::<String, pg_sys::Oid>(
        "SELECT a.attname::text, s.oid
           FROM pg_catalog.pg_depend d
           JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
           JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
          WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
            AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
            AND d.refobjid = $1 AND d.deptype IN ('a', 'i')
          ORDER BY 1",
        &[relid.into()],
    )?;
    Ok(rows
        .into_iter()
        .map(|(column, oid)| (column, identity::relation_label(oid), oid))
        .collect())
}

/// Moves a sequence past the largest value its column now holds in the
/// table, so that rows imported with their ids are not handed the same ids
/// again.
fn advance_sequence(relation: &str, column: &str, sequence: &str) -> Result<()> {
    spi::execute(
        &format!(
            "SELECT pg_catalog.setval($1::pg_catalog.regclass, m.v)
               FROM (SELECT pg_catalog.max(t.{column})::pg_catalog.int8 AS v FROM {relation} AS t) AS m,
                    pg_catalog.pg_sequence q
              WHERE q.seqrelid = $1::pg_catalog.regclass AND q.seqincrement > 0 AND m.v IS NOT NULL
                AND m.v > COALESCE(pg_catalog.pg_sequence_last_value($1::pg_catalog.regclass), q.seqstart - 1)",
            column = quote_identifier(column),
        ),
        &[sequence.into()],
    )
}
