//! New tables made tenant-scoped in the statement that creates them: the
//! `ddl_command_end` event trigger `tenant_ddl_partitions` (sql/finalize.sql).
//!
//! - A partition created under a tenant-scoped parent (`CREATE TABLE ...
//!   PARTITION OF`, also as an element of `CREATE SCHEMA`), or attached to
//!   one (`ALTER TABLE ... ATTACH PARTITION`, with the partitions below it),
//!   is made tenant-scoped at once: reached directly, it would otherwise have
//!   no policies of its own.
//! - With `pg_tenant.auto_enable = on`, a table created in one of the
//!   schemas of `pg_tenant.auto_enable_schemas` with a `tenant_id uuid`
//!   column is made tenant-scoped with tenant_enable's defaults, as the role
//!   that created it (its owner), for ORMs that know nothing of pg_tenant. A
//!   `tenant_id` of another type gets a WARNING and is left alone
//!   (tenant_check keeps reporting it as a forgotten table).
//!
//! - An inheritance child of a tenant-scoped table (`CREATE TABLE ...
//!   INHERITS`, `ALTER TABLE ... INHERIT`) is made tenant-scoped too, usage
//!   counted on the parent (whose scans include the child's rows).
//!
//! Both run tenant_enable's plan, so a table they cannot make tenant-scoped
//! makes the statement fail: nothing is left half-isolated.

use super::ddl_guard::{event_parsetree, qualified, relid_of, scoped_table, scoped_table_oid};
use crate::error::{self, Result};
use crate::names::TENANT_COLUMN;
use crate::session::ddl;
use crate::store::{identity, lookup, spi};
use pgrx::prelude::*;
use pgrx::PgList;

/// `_tenant_ddl_partitions()`: the `ddl_command_end` event trigger function
/// on CREATE TABLE, CREATE TABLE AS, SELECT INTO, CREATE FOREIGN TABLE,
/// CREATE SCHEMA and ALTER TABLE.
#[pg_guard]
#[no_mangle]
#[doc(hidden)]
pub unsafe extern "C-unwind" fn _tenant_ddl_partitions(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: Postgres passes a valid fcinfo; it is checked to be an event
    // trigger's before its context is read as one.
    let parsetree = match unsafe { event_parsetree(fcinfo, "_tenant_ddl_partitions") } {
        Ok(tree) => tree,
        Err(e) => error::raise(e),
    };
    // pg_upgrade recreates what the old cluster had, registry included.
    if ddl::is_own() || unsafe { pg_sys::IsBinaryUpgrade } {
        return pg_sys::Datum::from(0);
    }
    // SAFETY: the statement's parse tree, valid for the whole event.
    let scoped = unsafe { scope_attached_partitions(parsetree) }
        .and_then(|_| scope_created())
        .and_then(|_| unsafe { warn_added_tenant_column(parsetree) });
    if let Err(e) = scoped {
        error::raise(e);
    }
    pg_sys::Datum::from(0)
}

#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo__tenant_ddl_partitions() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// A table the statement created, as `pg_event_trigger_ddl_commands()` lists it.
struct Created {
    relid: pg_sys::Oid,
    /// Its parent when it is a partition.
    parent: Option<pg_sys::Oid>,
    /// Its inheritance parents (`INHERITS`) when it is not a partition.
    inherits: Vec<pg_sys::Oid>,
    /// `r`, `p` or `f`.
    kind: String,
    temporary: bool,
    in_extension: bool,
    schema: String,
    /// `format_type` of its tenant_id column, when it has one.
    tenant_type: Option<String>,
    tenant_is_uuid: bool,
}

/// The tables (and foreign tables) this statement created, in the order it
/// created them: a CREATE SCHEMA's elements, parents before partitions.
fn created_tables() -> Result<Vec<Created>> {
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT c.oid, i.inhparent, c.relkind::pg_catalog.text, c.relpersistence OPERATOR(pg_catalog.=) 't',
                    d.in_extension, n.nspname::pg_catalog.text,
                    pg_catalog.format_type(a.atttypid, a.atttypmod),
                    a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::pg_catalog.regtype,
                    ARRAY(SELECT h.inhparent FROM pg_catalog.pg_inherits h
                           WHERE h.inhrelid OPERATOR(pg_catalog.=) c.oid AND NOT c.relispartition ORDER BY h.inhseqno)
               FROM pg_catalog.pg_event_trigger_ddl_commands() WITH ORDINALITY AS d
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
               LEFT JOIN pg_catalog.pg_inherits i ON c.relispartition AND i.inhrelid OPERATOR(pg_catalog.=) c.oid
               LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
                    AND a.attname OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
              WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.objsubid OPERATOR(pg_catalog.=) 0
                AND d.command_tag OPERATOR(pg_catalog.<>) 'ALTER TABLE'
                AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,f}'::pg_catalog.\"char\"[])
              ORDER BY d.ordinality",
            None,
            &[TENANT_COLUMN.into()],
        )?;
        let mut out: Vec<Created> = Vec::new();
        for row in rows {
            let relid = row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid);
            if out.iter().any(|c| c.relid == relid) {
                continue;
            }
            out.push(Created {
                relid,
                parent: row.get::<pg_sys::Oid>(2)?,
                kind: row.get::<String>(3)?.unwrap_or_default(),
                temporary: row.get::<bool>(4)?.unwrap_or(false),
                in_extension: row.get::<bool>(5)?.unwrap_or(false),
                schema: row.get::<String>(6)?.unwrap_or_default(),
                tenant_type: row.get::<String>(7)?,
                tenant_is_uuid: row.get::<bool>(8)?.unwrap_or(false),
                inherits: row.get::<Vec<pg_sys::Oid>>(9)?.unwrap_or_default(),
            });
        }
        Ok(out)
    })
    .map_err(error::internal)
}

/// Scopes what the statement created: partitions of tenant-scoped parents
/// always, other tables as `pg_tenant.auto_enable` says.
fn scope_created() -> Result<()> {
    let created = created_tables()?;
    if created.is_empty() {
        return Ok(());
    }
    let auto = auto_enable_policy()?;
    // Under row_security = off: the schemas a WARNING is for (read once).
    let unscoped_schemas = if auto.is_none() && ddl::auto_enable() && restoring() {
        ddl::auto_enable_schemas()?
    } else {
        Vec::new()
    };
    for table in created {
        if scoped_table_oid(table.relid)? {
            continue;
        }
        if let Some(parent) = table.parent {
            if scoped_table_oid(parent)? {
                let track_usage = parent_tracks_usage(parent)?;
                identity::with_pinned_search_path(|| {
                    super::tables::enable_with_defaults(table.relid, track_usage)
                })?;
            }
            // A partition of a table that is not tenant-scoped follows its
            // parent: tenant_check reports the parent if it should be.
            continue;
        }
        if let Some(parent) = first_scoped(&table.inherits)? {
            scope_inheritance_child(table.relid, parent)?;
            continue;
        }
        let Some(schemas) = &auto else {
            if table.tenant_is_uuid
                && !table.temporary
                && !table.in_extension
                && table.kind != "f"
                && unscoped_schemas.contains(&table.schema)
            {
                warn_not_scoped_under_row_security_off(table.relid);
            }
            continue;
        };
        if table.kind == "f" || table.temporary || table.in_extension {
            continue;
        }
        if !schemas.contains(&table.schema) {
            continue;
        }
        match (&table.tenant_type, table.tenant_is_uuid) {
            (None, _) => {}
            (Some(_), true) => {
                identity::with_pinned_search_path(|| {
                    super::tables::enable_with_defaults(table.relid, true)
                })?;
                pgrx::notice!(
                    "pg_tenant: made new table {} tenant-scoped (pg_tenant.auto_enable)",
                    qualified(table.relid)
                );
            }
            (Some(type_name), false) => pgrx::warning!(
                "pg_tenant: new table {} was not made tenant-scoped: its {TENANT_COLUMN} column has type {type_name}, not uuid (pg_tenant.auto_enable); every tenant's rows are visible to every session until it is converted and tenant_enable runs",
                qualified(table.relid)
            ),
        }
    }
    Ok(())
}

/// The schemas auto-enable applies to now, or None when it is off. It is
/// off under `row_security = off`: pg_dump's scripts set that, and a
/// restored table gets its policies and registry row from the dump.
fn auto_enable_policy() -> Result<Option<Vec<String>>> {
    if !ddl::auto_enable() || restoring() {
        return Ok(None);
    }
    Ok(Some(ddl::auto_enable_schemas()?))
}

/// `row_security = off`, as pg_dump's scripts set it.
fn restoring() -> bool {
    // SAFETY: reading a boolean setting.
    !unsafe { pg_sys::row_security }
}

/// A WARNING for a table auto-enable would have scoped but for
/// `row_security = off`, unless the session looks like a pg_dump script
/// (which also sets `check_function_bodies = off`): a lingering `SET
/// row_security = off` of a baseline script must not turn it off unseen.
fn warn_not_scoped_under_row_security_off(relid: pg_sys::Oid) {
    // SAFETY: reading a boolean setting.
    if !unsafe { pg_sys::check_function_bodies } {
        return;
    }
    let table = qualified(relid);
    pgrx::warning!(
        "pg_tenant: new table {table} was not made tenant-scoped: pg_tenant.auto_enable does nothing under row_security = off (as pg_dump's scripts run); RESET row_security, or run SELECT tenant_enable('{}')",
        table.replace('\'', "''")
    );
}

/// The first of `parents` that is tenant-scoped.
fn first_scoped(parents: &[pg_sys::Oid]) -> Result<Option<pg_sys::Oid>> {
    for parent in parents {
        if scoped_table_oid(*parent)? {
            return Ok(Some(*parent));
        }
    }
    Ok(None)
}

/// Makes a new inheritance child of a tenant-scoped table tenant-scoped and
/// counted with it (`join_tree`): queried by name, it would otherwise show
/// every tenant's rows, and written by name, pass every quota.
fn scope_inheritance_child(child: pg_sys::Oid, parent: pg_sys::Oid) -> Result<()> {
    join_tree(child, parent)?;
    pgrx::notice!(
        "pg_tenant: made {} tenant-scoped: it inherits from tenant-scoped {}",
        qualified(child),
        qualified(parent)
    );
    Ok(())
}

/// `ALTER TABLE ... ADD COLUMN tenant_id` on a table auto-enable applies
/// to that is not tenant-scoped: its existing rows have no tenant yet, so
/// it is not enabled here; a WARNING says what to do.
///
/// # Safety
/// `tree` is NULL or a valid parse tree.
unsafe fn warn_added_tenant_column(tree: *mut pg_sys::Node) -> Result<()> {
    let relation = unsafe {
        if tree.is_null() || (*tree).type_ != pg_sys::NodeTag::T_AlterTableStmt {
            return Ok(());
        }
        let stmt = tree as *mut pg_sys::AlterTableStmt;
        let adds_tenant = PgList::<pg_sys::AlterTableCmd>::from_pg((*stmt).cmds)
            .iter_ptr()
            .any(|cmd| {
                (*cmd).subtype == pg_sys::AlterTableType::AT_AddColumn
                    && !(*cmd).def.is_null()
                    && (*(*cmd).def).type_ == pg_sys::NodeTag::T_ColumnDef
                    && {
                        let name = (*((*cmd).def as *mut pg_sys::ColumnDef)).colname;
                        !name.is_null()
                            && std::ffi::CStr::from_ptr(name).to_bytes() == TENANT_COLUMN.as_bytes()
                    }
            });
        if !adds_tenant {
            return Ok(());
        }
        relid_of((*stmt).relation)
    };
    let Some(schemas) = auto_enable_policy()? else {
        return Ok(());
    };
    if relation == pg_sys::InvalidOid || scoped_table_oid(relation)? {
        return Ok(());
    }
    // SAFETY: catalog lookup of an existing relation.
    let schema = unsafe {
        let name = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relation));
        if name.is_null() {
            return Ok(());
        }
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    };
    if schemas.contains(&schema) {
        let table = qualified(relation);
        pgrx::warning!(
            "pg_tenant: {TENANT_COLUMN} was added to {table}, which is not tenant-scoped: pg_tenant.auto_enable only scopes new tables; fill {TENANT_COLUMN} in, then run SELECT tenant_enable('{}') (or tenant_enable(..., backfill_tenant => ...))",
            table.replace('\'', "''")
        );
    }
    Ok(())
}

/// Whether a table created or attached below `parent` counts usage: when
/// the parent or any table above it does (it then counts on the counted
/// root), so that its rows written by name cannot pass that root's quotas.
fn parent_tracks_usage(parent: pg_sys::Oid) -> Result<bool> {
    crate::enforce::usage::counted_here_or_above(parent)
}

/// `relid` and the tables below it (partitions and inheritance children,
/// any depth), parents first, each with its registry row's `track_usage`
/// (None: not tenant-scoped).
fn tree_tables(relid: pg_sys::Oid) -> Result<Vec<(pg_sys::Oid, Option<bool>)>> {
    identity::as_registry_owner(|| {
        lookup::tree_of(relid, None)
            .into_iter()
            .map(|table| Ok((table, lookup::tracks_usage(table)?)))
            .collect()
    })
}

/// Recounts the counters of the counted tables of `relid`'s tree (its
/// partitions and inheritance children) from their rows, each counting where
/// `usage::counted_as` now says, writers kept out meanwhile: after a table
/// left a counted root (DETACH PARTITION, NO INHERIT), or a table above the
/// counted ones stopped counting (`_tenant_usage_stop`, tenant_disable),
/// their rows count on themselves (or a lower counted root) from now on. The
/// counters of every counted table of the tree go; each table that is its
/// own root now adds the rows of its tree.
pub(super) fn recount_tree(relid: pg_sys::Oid) -> Result<()> {
    let counting: Vec<pg_sys::Oid> = tree_tables(relid)?
        .into_iter()
        .filter(|(_, track)| *track == Some(true))
        .map(|(relid, _)| relid)
        .collect();
    if counting.is_empty() {
        return Ok(());
    }
    let schema = spi::extension_schema()?;
    identity::as_registry_owner(|| {
        crate::enforce::usage::lock_tree(relid);
        for table in &counting {
            crate::enforce::usage::forget_table(*table)?;
        }
        for table in &counting {
            if crate::enforce::usage::counted_as(*table)? == *table {
                crate::enforce::usage::count_rows_into(*table, *table, &schema)?;
            }
        }
        Ok(())
    })
}

/// After `ALTER TABLE ... ATTACH PARTITION` or `ALTER TABLE ... INHERIT`:
/// `tree` (with the tables below it) now sits under tenant-scoped `parent`.
/// The tables of the tree that are not tenant-scoped become so, counted
/// when the parent is, as the role that ran the statement (which owns
/// them). When a counted table above now counts the tree's rows
/// (`usage::counted_as`), the counters the tree's tables kept go, its rows
/// are added to that root's, and a table of the tree registered without
/// counting starts counting (on the root): its direct writes would
/// otherwise pass the root's quotas unseen.
fn join_tree(tree: pg_sys::Oid, parent: pg_sys::Oid) -> Result<()> {
    let track_usage = parent_tracks_usage(parent)?;
    let tables = tree_tables(tree)?;
    crate::enforce::usage::joining(|| {
        // As tenant_enable runs: with the search_path its pg_extern sets, so
        // the catalog's expressions read back schema-qualified.
        for (relid, _) in tables.iter().filter(|(_, track)| track.is_none()) {
            identity::with_pinned_search_path(|| {
                super::tables::enable_with_defaults(*relid, track_usage)
            })?;
        }
        let root = crate::enforce::usage::counted_as(tree)?;
        if root == tree {
            return Ok(());
        }
        let schema = spi::extension_schema()?;
        identity::as_registry_owner(|| {
            // Writers already counting into the tree (on its tables or a
            // root below) finish first; new ones wait for this transaction.
            crate::enforce::usage::lock_tree(tree);
            for (relid, _) in tables.iter().filter(|(_, track)| *track == Some(true)) {
                crate::enforce::usage::forget_table(*relid)?;
            }
            crate::enforce::usage::count_rows_into(root, tree, &schema)
        })?;
        for (relid, _) in tables.iter().filter(|(_, track)| *track == Some(false)) {
            identity::with_pinned_search_path(|| {
                super::tables::enable_with_defaults(*relid, true)
            })?;
        }
        Ok(())
    })
}

/// Makes what an `ALTER TABLE ... ATTACH PARTITION` attached to a
/// tenant-scoped parent, or an `ALTER TABLE ... INHERIT` put under one,
/// tenant-scoped and counted with it (`join_tree`), and recounts what a
/// `DETACH PARTITION` or `NO INHERIT` took out from under a counted table.
/// Any other ALTER TABLE on a parent leaves its partitions as they are (a
/// restore puts back what the dump held).
///
/// # Safety
/// `tree` is NULL or a valid parse tree.
unsafe fn scope_attached_partitions(tree: *mut pg_sys::Node) -> Result<()> {
    let mut joined = Vec::new();
    let mut left = Vec::new();
    unsafe {
        if tree.is_null() || (*tree).type_ != pg_sys::NodeTag::T_AlterTableStmt {
            return Ok(());
        }
        let stmt = tree as *mut pg_sys::AlterTableStmt;
        let commands = PgList::<pg_sys::AlterTableCmd>::from_pg((*stmt).cmds);
        for cmd in commands.iter_ptr() {
            if (*cmd).def.is_null() {
                continue;
            }
            match (*cmd).subtype {
                pg_sys::AlterTableType::AT_AttachPartition => {
                    let partition = (*((*cmd).def as *mut pg_sys::PartitionCmd)).name;
                    joined.push((partition, (*stmt).relation, false));
                }
                pg_sys::AlterTableType::AT_AddInherit => {
                    joined.push(((*stmt).relation, (*cmd).def as *mut pg_sys::RangeVar, true));
                }
                // DETACH ... CONCURRENTLY ends in its second transaction,
                // or in a later DETACH ... FINALIZE.
                pg_sys::AlterTableType::AT_DetachPartition
                | pg_sys::AlterTableType::AT_DetachPartitionFinalize => {
                    left.push((*((*cmd).def as *mut pg_sys::PartitionCmd)).name);
                }
                pg_sys::AlterTableType::AT_DropInherit => left.push((*stmt).relation),
                _ => {}
            }
        }
    }
    // A table that left counts its own rows from now on (they stay counted
    // on the root it left, more than there is, until reconciled): its
    // tree's counters are recounted from its rows.
    for table in left {
        // SAFETY: a RangeVar of the parse tree.
        let relid = unsafe { relid_of(table) };
        if relid != pg_sys::InvalidOid && scoped_table_oid(relid)? {
            recount_tree(relid)?;
        }
    }
    for (table, parent, inherits) in joined {
        // SAFETY: RangeVars of the parse tree.
        let (Some(parent), relid) = (unsafe { scoped_table(parent)? }, unsafe { relid_of(table) })
        else {
            continue;
        };
        if relid == pg_sys::InvalidOid {
            continue;
        }
        if inherits && !scoped_table_oid(relid)? {
            scope_inheritance_child(relid, parent.relid)?;
        } else {
            join_tree(relid, parent.relid)?;
        }
    }
    Ok(())
}
