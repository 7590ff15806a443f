//! Reads tables' isolation state straight from the system catalogs: the
//! syscaches for a relation, its namespace and its tenant_id column, and an
//! index scan of pg_constraint, pg_index, pg_policy and pg_trigger per table.
//! For thousands of tables this is several times cheaper than one set-based
//! query (which joined, aggregated and built JSON for every table), and it
//! opens no table: no relation cache entry, no lock on any of them.
//!
//! Catalog rows are read with the catalog snapshot, as DDL reads them: the
//! latest committed state and the current transaction's own changes.

use crate::names::TENANT_COLUMN_C;
use pgrx::pg_sys;
use pgrx::spi::quote_identifier;
use rustc_hash::FxHashMap as HashMap;
use std::ffi::{CStr, CString};

/// What one table's catalog rows say (`state::TableState` is built from it).
pub struct CatalogTable {
    pub oid: pg_sys::Oid,
    pub schema: String,
    pub name: String,
    pub kind: u8,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub column: Option<CatalogColumn>,
    pub has_registry_fk: bool,
    /// The index with the lowest OID whose first key is tenant_id: valid,
    /// not partial. Qualified, quoted as needed.
    pub tenant_index: Option<String>,
    /// In order of name.
    pub policies: Vec<CatalogPolicy>,
    /// In order of name.
    pub triggers: Vec<CatalogTrigger>,
    /// The names of the columns, dropped ones included, in order: read only
    /// for a table with policies (they decide how its policies print).
    pub column_names: Vec<String>,
}

pub struct CatalogColumn {
    pub attnum: i16,
    pub type_oid: pg_sys::Oid,
    pub type_name: String,
    pub not_null: bool,
}

pub struct CatalogPolicy {
    pub oid: pg_sys::Oid,
    pub name: String,
    pub command: u8,
    pub permissive: bool,
    pub roles: Vec<pg_sys::Oid>,
    /// USING and WITH CHECK as stored (`pg_node_tree` text).
    pub using_tree: Option<String>,
    pub with_check_tree: Option<String>,
}

pub struct CatalogTrigger {
    pub name: String,
    pub function: pg_sys::Oid,
    pub kind: i16,
    pub enabled: bool,
    /// A partition's clone of its parent's trigger counts as the table's own;
    /// other internal triggers (constraint triggers) do not.
    pub internal: bool,
    pub old_table: Option<String>,
    pub new_table: Option<String>,
}

/// The registry's key column, which a registry foreign key references.
const REGISTRY_ID_COLUMN: &str = "id";

// Catalogs without bindings in pgrx (their OIDs are fixed in every version).
const POLICY_RELATION: u32 = 3256;
const POLICY_POLRELID_POLNAME_INDEX: u32 = 3258;
const CONSTRAINT_RELATION: u32 = 2606;
const CONSTRAINT_CONRELID_CONTYPID_CONNAME_INDEX: u32 = 2665;

/// Reads every existing relation among `oids` (in no particular order);
/// `registry` is `tenant.tenants`, whose `id` a registry foreign key names.
pub fn read(oids: &[pg_sys::Oid], registry: pg_sys::Oid) -> Vec<CatalogTable> {
    let mut reader = Reader::open(registry);
    let tables = oids.iter().filter_map(|&oid| reader.table(oid)).collect();
    reader.close();
    tables
}

/// An open system catalog and the attribute numbers of the columns read
/// from it (looked up by name: they differ between major versions).
struct Catalog {
    rel: pg_sys::Relation,
    index: pg_sys::Oid,
    /// The column the index leads with (an OID), the key of `rows_of`.
    key: i32,
    attnums: Vec<i32>,
}

impl Catalog {
    fn open(relid: u32, index: u32, key: &str, columns: &[&str]) -> Self {
        let (relid, index) = (pg_sys::Oid::from(relid), pg_sys::Oid::from(index));
        // SAFETY: a system catalog, opened with the lock a query would take
        // and closed in `close`; its tuple descriptor lives as long.
        unsafe {
            let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            let desc = pgrx::PgTupleDesc::from_pg_unchecked((*rel).rd_att);
            let attnums: Vec<i32> = std::iter::once(&key)
                .chain(columns)
                .map(|column| {
                    desc.iter()
                        .position(|att| att.name() == *column)
                        .map(|i| i as i32 + 1)
                        .unwrap_or_else(|| {
                            pgrx::error!(
                                "pg_tenant: system catalog {relid:?} has no column {column}"
                            )
                        })
                })
                .collect();
            Catalog {
                rel,
                index,
                key: attnums[0],
                attnums: attnums[1..].to_vec(),
            }
        }
    }

    /// Every row whose key column (the index's first) is `key`, in index order.
    fn rows_of(&self, key: pg_sys::Oid, mut each: impl FnMut(&Row<'_>)) {
        // SAFETY: an index scan of an open catalog with one equality key on
        // its index's first column; each tuple is valid until the next
        // systable_getnext, and `each` copies what it keeps.
        unsafe {
            let mut scankey = pg_sys::ScanKeyData::default();
            pg_sys::ScanKeyInit(
                &mut scankey,
                self.key as pg_sys::AttrNumber,
                pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                pg_sys::Oid::from(pg_sys::F_OIDEQ),
                pg_sys::Datum::from(key),
            );
            let scan = pg_sys::systable_beginscan(
                self.rel,
                self.index,
                true,
                std::ptr::null_mut(),
                1,
                &mut scankey,
            );
            loop {
                let tuple = pg_sys::systable_getnext(scan);
                if tuple.is_null() {
                    break;
                }
                each(&Row {
                    catalog: self,
                    tuple,
                });
            }
            pg_sys::systable_endscan(scan);
        }
    }

    fn close(self) {
        // SAFETY: opened in `open`, no scan open.
        unsafe { pg_sys::table_close(self.rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE) }
    }
}

/// A catalog row being read; columns by their position in `Catalog::open`'s
/// list.
struct Row<'a> {
    catalog: &'a Catalog,
    tuple: pg_sys::HeapTuple,
}

impl Row<'_> {
    fn datum(&self, column: usize) -> Option<pg_sys::Datum> {
        let mut isnull = false;
        // SAFETY: the tuple belongs to the catalog whose descriptor this is.
        let datum = unsafe {
            pg_sys::heap_getattr(
                self.tuple,
                self.catalog.attnums[column],
                (*self.catalog.rel).rd_att,
                &mut isnull,
            )
        };
        (!isnull).then_some(datum)
    }

    fn oid(&self, column: usize) -> pg_sys::Oid {
        self.datum(column)
            .map(|d| pg_sys::Oid::from(d.value() as u32))
            .unwrap_or(pg_sys::InvalidOid)
    }

    fn bool(&self, column: usize) -> bool {
        self.datum(column).is_some_and(|d| d.value() & 0xff != 0)
    }

    fn char(&self, column: usize) -> u8 {
        self.datum(column).map(|d| d.value() as u8).unwrap_or(0)
    }

    fn i16(&self, column: usize) -> i16 {
        self.datum(column).map(|d| d.value() as i16).unwrap_or(0)
    }

    fn text(&self, column: usize) -> Option<String> {
        // SAFETY: a text-like column (`pg_node_tree`); text_to_cstring
        // detoasts it and returns a palloc'd copy.
        self.datum(column).map(|d| unsafe {
            palloced(pg_sys::text_to_cstring(d.cast_mut_ptr::<pg_sys::text>())).unwrap_or_default()
        })
    }

    fn name(&self, column: usize) -> Option<String> {
        // SAFETY: a `name` column: a pointer to a NUL-terminated NameData.
        self.datum(column)
            .map(|d| unsafe { cstring(d.cast_mut_ptr::<std::ffi::c_char>()) })
    }

    /// An `oid[]` or `int2[]` column (no NULL elements in the catalogs).
    fn array<T: Copy>(
        &self,
        column: usize,
        elemtype: pg_sys::Oid,
        from: fn(pg_sys::Datum) -> T,
    ) -> Vec<T> {
        let Some(datum) = self.datum(column) else {
            return Vec::new();
        };
        // SAFETY: the column is an array of `elemtype` (oid or int2, both
        // by value); detoasting copies it when it is compressed or stored
        // apart.
        unsafe {
            let original = datum.cast_mut_ptr::<pg_sys::varlena>();
            let array = pg_sys::pg_detoast_datum(original) as *mut pg_sys::ArrayType;
            let (len, byval, align) = if elemtype == pg_sys::INT2OID {
                (2, true, b's')
            } else {
                (4, true, b'i')
            };
            let mut elems: *mut pg_sys::Datum = std::ptr::null_mut();
            let mut count = 0;
            pg_sys::deconstruct_array(
                array,
                elemtype,
                len,
                byval,
                align as std::ffi::c_char,
                &mut elems,
                std::ptr::null_mut(),
                &mut count,
            );
            let out = (0..count as usize).map(|i| from(*elems.add(i))).collect();
            // Thousands of tables are read in one call: free what was copied.
            if !elems.is_null() {
                pg_sys::pfree(elems.cast());
            }
            if array.cast::<pg_sys::varlena>() != original {
                pg_sys::pfree(array.cast());
            }
            out
        }
    }
}

/// A NUL-terminated string as an owned String; an ERROR when it is not
/// UTF-8 (a name changed on the way would name another object in the SQL
/// pg_tenant prints).
///
/// # Safety
/// `ptr` points to a NUL-terminated string.
pub unsafe fn cstring(ptr: *const std::ffi::c_char) -> String {
    match unsafe { CStr::from_ptr(ptr) }.to_str() {
        Ok(name) => name.to_owned(),
        Err(_) => pgrx::error!(
            "pg_tenant: a catalog name is not valid UTF-8; pg_tenant needs a UTF-8 database"
        ),
    }
}

/// A palloc'd NUL-terminated string (or NULL) as an owned String, freed.
///
/// # Safety
/// `ptr` is NULL or a palloc'd NUL-terminated string no one else holds.
pub unsafe fn palloced(ptr: *mut std::ffi::c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    let out = unsafe { cstring(ptr) };
    unsafe { pg_sys::pfree(ptr.cast()) };
    Some(out)
}

struct Reader {
    registry: pg_sys::Oid,
    registry_id: i16,
    namespaces: HashMap<pg_sys::Oid, String>,
    types: HashMap<(pg_sys::Oid, i32), String>,
    constraints: Catalog,
    indexes: Catalog,
    policies: Catalog,
    triggers: Catalog,
    attributes: Catalog,
}

// Column positions in each catalog's list below.
const CON_TYPE: usize = 0;
const CON_FRELID: usize = 1;
const CON_KEY: usize = 2;
const CON_FKEY: usize = 3;
const POL_OID: usize = 0;
const POL_NAME: usize = 1;
const POL_CMD: usize = 2;
const POL_PERMISSIVE: usize = 3;
const POL_ROLES: usize = 4;
const POL_USING: usize = 5;
const POL_WITH_CHECK: usize = 6;
const ATT_NUM: usize = 0;
const ATT_NAME: usize = 1;
const TG_NAME: usize = 0;
const TG_FUNCTION: usize = 1;
const TG_TYPE: usize = 2;
const TG_ENABLED: usize = 3;
const TG_INTERNAL: usize = 4;
const TG_PARENT: usize = 5;
const TG_OLD_TABLE: usize = 6;
const TG_NEW_TABLE: usize = 7;
const IND_INDEXRELID: usize = 0;
const IND_KEY: usize = 1;
const IND_VALID: usize = 2;
const IND_PRED: usize = 3;

impl Reader {
    fn open(registry: pg_sys::Oid) -> Self {
        Reader {
            registry,
            registry_id: attnum(registry, REGISTRY_ID_COLUMN).unwrap_or(0),
            namespaces: HashMap::default(),
            types: HashMap::default(),
            constraints: Catalog::open(
                CONSTRAINT_RELATION,
                CONSTRAINT_CONRELID_CONTYPID_CONNAME_INDEX,
                "conrelid",
                &["contype", "confrelid", "conkey", "confkey"],
            ),
            indexes: Catalog::open(
                pg_sys::IndexRelationId.to_u32(),
                pg_sys::IndexIndrelidIndexId,
                "indrelid",
                &["indexrelid", "indkey", "indisvalid", "indpred"],
            ),
            policies: Catalog::open(
                POLICY_RELATION,
                POLICY_POLRELID_POLNAME_INDEX,
                "polrelid",
                &[
                    "oid",
                    "polname",
                    "polcmd",
                    "polpermissive",
                    "polroles",
                    "polqual",
                    "polwithcheck",
                ],
            ),
            triggers: Catalog::open(
                pg_sys::TriggerRelationId.to_u32(),
                pg_sys::TriggerRelidNameIndexId,
                "tgrelid",
                &[
                    "tgname",
                    "tgfoid",
                    "tgtype",
                    "tgenabled",
                    "tgisinternal",
                    "tgparentid",
                    "tgoldtable",
                    "tgnewtable",
                ],
            ),
            attributes: Catalog::open(
                pg_sys::AttributeRelationId.to_u32(),
                pg_sys::AttributeRelidNumIndexId,
                "attrelid",
                &["attnum", "attname"],
            ),
        }
    }

    fn close(self) {
        self.constraints.close();
        self.indexes.close();
        self.policies.close();
        self.triggers.close();
        self.attributes.close();
    }

    fn table(&mut self, oid: pg_sys::Oid) -> Option<CatalogTable> {
        // SAFETY: the syscache tuple is a pg_class row, copied from and
        // released before anything else is looked up.
        let (name, namespace, kind, rls_enabled, rls_forced) = unsafe {
            let tuple = pg_sys::SearchSysCache1(
                pg_sys::SysCacheIdentifier::RELOID as i32,
                pg_sys::Datum::from(oid),
            );
            if tuple.is_null() {
                return None;
            }
            let form = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple);
            let row = (
                cstring((*form).relname.data.as_ptr()),
                (*form).relnamespace,
                (*form).relkind as u8,
                (*form).relrowsecurity,
                (*form).relforcerowsecurity,
            );
            pg_sys::ReleaseSysCache(tuple);
            row
        };
        let schema = self.namespace(namespace);
        let column = self.tenant_column(oid);
        let has_registry_fk = column
            .as_ref()
            .is_some_and(|c| self.has_registry_fk(oid, c.attnum));
        let tenant_index = column
            .as_ref()
            .and_then(|c| self.tenant_index(oid, c.attnum))
            .map(|index| format!("{}.{}", quote_identifier(&schema), quote_identifier(index)));
        let policies = self.policies(oid);
        let column_names = if policies.is_empty() {
            Vec::new()
        } else {
            self.column_names(oid)
        };
        Some(CatalogTable {
            oid,
            policies,
            column_names,
            triggers: self.triggers(oid),
            schema,
            name,
            kind,
            rls_enabled,
            rls_forced,
            column,
            has_registry_fk,
            tenant_index,
        })
    }

    fn namespace(&mut self, oid: pg_sys::Oid) -> String {
        self.namespaces
            .entry(oid)
            .or_insert_with(|| {
                // SAFETY: returns a palloc'd copy of the name, or NULL.
                unsafe { palloced(pg_sys::get_namespace_name(oid)) }
                    .unwrap_or_else(|| oid.to_u32().to_string())
            })
            .clone()
    }

    fn tenant_column(&mut self, relid: pg_sys::Oid) -> Option<CatalogColumn> {
        // SAFETY: the syscache tuple is a pg_attribute row (never a dropped
        // column: SearchSysCacheAttName skips those), released at once.
        let (attnum, type_oid, typmod, not_null) = unsafe {
            let tuple = pg_sys::SearchSysCacheAttName(relid, TENANT_COLUMN_C.as_ptr());
            if tuple.is_null() {
                return None;
            }
            let form = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_attribute>(tuple);
            let row = (
                (*form).attnum,
                (*form).atttypid,
                (*form).atttypmod,
                (*form).attnotnull,
            );
            pg_sys::ReleaseSysCache(tuple);
            row
        };
        if attnum <= 0 {
            return None;
        }
        let type_name = self
            .types
            .entry((type_oid, typmod))
            .or_insert_with(|| {
                // SAFETY: format_type_extended returns a palloc'd string; with
                // ALLOW_INVALID it prints "???" for a type that is gone.
                unsafe {
                    palloced(pg_sys::format_type_extended(
                        type_oid,
                        typmod,
                        (pg_sys::FORMAT_TYPE_TYPEMOD_GIVEN | pg_sys::FORMAT_TYPE_ALLOW_INVALID)
                            as _,
                    ))
                }
                .unwrap_or_else(|| "???".into())
            })
            .clone();
        Some(CatalogColumn {
            attnum,
            type_oid,
            type_name,
            not_null,
        })
    }

    /// Whether a foreign key on (tenant_id) alone references tenant.tenants (id).
    fn has_registry_fk(&self, relid: pg_sys::Oid, attnum: i16) -> bool {
        let mut found = false;
        self.constraints.rows_of(relid, |row| {
            found = found
                || (row.char(CON_TYPE) == b'f'
                    && row.oid(CON_FRELID) == self.registry
                    && row.array(CON_KEY, pg_sys::INT2OID, |d| d.value() as i16) == [attnum]
                    && row
                        .array(CON_FKEY, pg_sys::INT2OID, |d| d.value() as i16)
                        .first()
                        == Some(&self.registry_id));
        });
        found
    }

    /// The name of the valid, non-partial index with the lowest OID whose
    /// first key column is `attnum`.
    fn tenant_index(&self, relid: pg_sys::Oid, attnum: i16) -> Option<String> {
        let mut best: Option<pg_sys::Oid> = None;
        self.indexes.rows_of(relid, |row| {
            let index = row.oid(IND_INDEXRELID);
            let leads = row
                .array(IND_KEY, pg_sys::INT2OID, |d| d.value() as i16)
                .first()
                == Some(&attnum);
            if leads
                && row.bool(IND_VALID)
                && row.datum(IND_PRED).is_none()
                && best.is_none_or(|b| index.to_u32() < b.to_u32())
            {
                best = Some(index);
            }
        });
        // SAFETY: get_rel_name returns a palloc'd copy of the name, or NULL.
        best.and_then(|index| unsafe { palloced(pg_sys::get_rel_name(index)) })
    }

    fn policies(&self, relid: pg_sys::Oid) -> Vec<CatalogPolicy> {
        let mut out = Vec::new();
        self.policies.rows_of(relid, |row| {
            out.push(CatalogPolicy {
                oid: row.oid(POL_OID),
                name: row.name(POL_NAME).unwrap_or_default(),
                command: row.char(POL_CMD),
                permissive: row.bool(POL_PERMISSIVE),
                roles: row.array(POL_ROLES, pg_sys::OIDOID, |d| {
                    pg_sys::Oid::from(d.value() as u32)
                }),
                using_tree: row.text(POL_USING),
                with_check_tree: row.text(POL_WITH_CHECK),
            })
        });
        // In name order whatever the scan (without system indexes, as under
        // ignore_system_indexes, it reads the heap in any order).
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn column_names(&self, relid: pg_sys::Oid) -> Vec<String> {
        let mut columns = Vec::new();
        self.attributes.rows_of(relid, |row| {
            let attnum = row.i16(ATT_NUM);
            if attnum > 0 {
                columns.push((attnum, row.name(ATT_NAME).unwrap_or_default()));
            }
        });
        columns.sort_by_key(|(attnum, _)| *attnum);
        columns.into_iter().map(|(_, name)| name).collect()
    }

    fn triggers(&self, relid: pg_sys::Oid) -> Vec<CatalogTrigger> {
        let mut out = Vec::new();
        self.triggers.rows_of(relid, |row| {
            out.push(CatalogTrigger {
                name: row.name(TG_NAME).unwrap_or_default(),
                function: row.oid(TG_FUNCTION),
                kind: row.i16(TG_TYPE),
                enabled: row.char(TG_ENABLED) != b'D',
                internal: row.bool(TG_INTERNAL) && row.oid(TG_PARENT) == pg_sys::InvalidOid,
                old_table: row.name(TG_OLD_TABLE),
                new_table: row.name(TG_NEW_TABLE),
            })
        });
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

/// A column's number, by name (0 when the relation has none).
fn attnum(relid: pg_sys::Oid, column: &str) -> Option<i16> {
    let name = CString::new(column).ok()?;
    // SAFETY: the syscache tuple is a pg_attribute row, released at once.
    unsafe {
        let tuple = pg_sys::SearchSysCacheAttName(relid, name.as_ptr());
        if tuple.is_null() {
            return None;
        }
        let attnum =
            (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_attribute>(tuple)).attnum;
        pg_sys::ReleaseSysCache(tuple);
        Some(attnum)
    }
}

/// A role's name, from the syscache (None when there is no such role).
pub fn role_name(oid: pg_sys::Oid) -> Option<String> {
    // SAFETY: with noerr, GetUserNameFromId returns a palloc'd name or NULL.
    unsafe { palloced(pg_sys::GetUserNameFromId(oid, true)) }
}

/// A function as `schema.name()`, quoted as needed (None when there is no
/// such function).
pub fn function_name(oid: pg_sys::Oid) -> Option<String> {
    // SAFETY: each returns a palloc'd name or NULL (or InvalidOid).
    unsafe {
        let name = palloced(pg_sys::get_func_name(oid))?;
        let schema = palloced(pg_sys::get_namespace_name(pg_sys::get_func_namespace(oid)))?;
        Some(format!(
            "{}.{}()",
            quote_identifier(schema),
            quote_identifier(name)
        ))
    }
}

/// A stored expression tree of `relid` as `pg_get_expr` prints it (None when
/// the table is gone).
pub fn print_expression(tree: &str, relid: pg_sys::Oid) -> Option<String> {
    use pgrx::IntoDatum;
    // SAFETY: pg_get_expr takes the tree's text and the relation's OID; the
    // tree was read from pg_policy, so it is one Postgres wrote.
    unsafe {
        pgrx::direct_function_call::<String>(
            pg_sys::pg_get_expr,
            &[tree.into_datum(), relid.into_datum()],
        )
    }
}

/// The columns of a table's primary key, in key order (empty without one).
pub fn primary_key(relid: pg_sys::Oid) -> crate::error::Result<Vec<String>> {
    crate::store::spi::column::<String>(
        "SELECT a.attname::text
           FROM pg_catalog.pg_index i
          CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k (attnum, n)
           JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = $1 AND i.indisprimary
          ORDER BY k.n",
        &[relid.into()],
    )
}
