//! The DDL guard: event triggers that keep a tenant-scoped table isolated
//! through every migration.
//!
//! - `_tenant_ddl_guard()` (`ddl_command_start`, sql/finalize.sql) reads the
//!   statement before anything changed and, on a table registered in
//!   `tenant.tables`, refuses (`pg_tenant.ddl_guard = 'error'`, the default)
//!   or warns about (`'warn'`) what would weaken it: dropping, altering or
//!   renaming the `tenant_isolation`/`tenant_bypass` policies, DISABLE or NO
//!   FORCE ROW LEVEL SECURITY, dropping, disabling or renaming `tenant_set_id`
//!   or the usage triggers, dropping NOT NULL or the foreign key of
//!   `tenant_id`, changing its type, renaming or dropping it. A new PERMISSIVE
//!   policy, which widens what the table shows, always gets a WARNING.
//!   `tenant_enable` and `tenant_disable` pass (`session::ddl::own`).
//! - `_tenant_ddl_partitions()` (`ddl_command_end`, `api::ddl_scope`) makes
//!   new tables tenant-scoped: partitions of tenant-scoped parents, and with
//!   `pg_tenant.auto_enable` tables created with a `tenant_id uuid` column.
//! - `_tenant_ddl_dropped()` (`sql_drop`) takes a dropped table out of the
//!   registry, with its counters and limits, so `tenant.tables` stays true.
//!   A renamed table, or one moved to another schema, keeps its OID and stays
//!   registered.

use crate::enforce::usage;
use crate::error::{self, Result};
use crate::names::{BYPASS_POLICY, FILL_TRIGGER, ISOLATION_POLICY, TENANT_COLUMN};
use crate::session::ddl::{self, DdlGuard};
use crate::store::{identity, spi};
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use pgrx::PgList;
use std::ffi::{c_char, CStr};

/// The triggers tenant_enable and tenant_audit_enable attach.
const OUR_TRIGGERS: [&str; 9] = [
    FILL_TRIGGER,
    "tenant_usage_insert",
    "tenant_usage_update",
    "tenant_usage_delete",
    "tenant_usage_truncate",
    "tenant_audit_insert",
    "tenant_audit_update",
    "tenant_audit_delete",
    "tenant_audit_truncate",
];

/// What a statement would do to a tenant-scoped table.
struct Weakening {
    /// The table, qualified and quoted.
    table: String,
    what: String,
}

/// `_tenant_ddl_guard()`: the `ddl_command_start` event trigger function.
#[pg_guard]
#[no_mangle]
#[doc(hidden)]
pub unsafe extern "C-unwind" fn _tenant_ddl_guard(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: Postgres passes a valid fcinfo; it is checked to be an event
    // trigger's before its context is read as one.
    let parsetree = match unsafe { event_parsetree(fcinfo, "_tenant_ddl_guard") } {
        Ok(tree) => tree,
        Err(e) => error::raise(e),
    };
    if ddl::is_own() || ddl::mode() == DdlGuard::Off {
        return pg_sys::Datum::from(0);
    }
    // SAFETY: the statement's parse tree, valid for the whole event.
    let (weakenings, widenings) = match unsafe { inspect(parsetree) } {
        Ok(found) => found,
        Err(e) => error::raise(e),
    };
    for widening in &widenings {
        pgrx::warning!(
            "pg_tenant: {} adds a permissive policy to tenant-scoped table {}: rows it admits are visible beside the tenant's own (tenant_check reports it as widening_policy)",
            widening.what,
            widening.table
        );
    }
    report(&weakenings);
    pg_sys::Datum::from(0)
}

#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo__tenant_ddl_guard() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// `_tenant_ddl_dropped()`: the `sql_drop` event trigger function.
#[pg_guard]
#[no_mangle]
#[doc(hidden)]
pub unsafe extern "C-unwind" fn _tenant_ddl_dropped(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: as above.
    let parsetree = match unsafe { event_parsetree(fcinfo, "_tenant_ddl_dropped") } {
        Ok(tree) => tree,
        Err(e) => error::raise(e),
    };
    // A DROP POLICY or DROP TRIGGER was judged at ddl_command_start.
    // SAFETY: the statement's parse tree, valid for the whole event.
    let judged = unsafe {
        !parsetree.is_null()
            && (*parsetree).type_ == pg_sys::NodeTag::T_DropStmt
            && matches!(
                (*(parsetree as *mut pg_sys::DropStmt)).removeType,
                pg_sys::ObjectType::OBJECT_POLICY | pg_sys::ObjectType::OBJECT_TRIGGER
            )
    };
    let checked = if judged {
        Ok(())
    } else {
        refuse_indirect_drops()
    };
    if let Err(e) = checked.and_then(|_| forget_dropped_tables()) {
        error::raise(e);
    }
    pg_sys::Datum::from(0)
}

#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo__tenant_ddl_dropped() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// The OID a RangeVar names (InvalidOid when none).
///
/// # Safety
/// `relation` is NULL or a valid RangeVar.
pub(super) unsafe fn relid_of(relation: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    if relation.is_null() {
        return pg_sys::InvalidOid;
    }
    unsafe {
        pg_sys::RangeVarGetRelidExtended(
            relation,
            pg_sys::NoLock as pg_sys::LOCKMODE,
            pg_sys::RVROption::RVR_MISSING_OK,
            None,
            std::ptr::null_mut(),
        )
    }
}

/// Whether the table is registered in tenant.tables (call as the registry
/// owner, or through `scoped_table_oid`).
fn is_registered(relid: pg_sys::Oid) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT true FROM tenant.tables WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid",
        &[relid.into()],
    )?
    .is_some())
}

/// Whether the table is registered in tenant.tables.
pub(super) fn scoped_table_oid(relid: pg_sys::Oid) -> Result<bool> {
    identity::as_registry_owner(|| is_registered(relid))
}

/// A policy or trigger of tenant_enable's dropped by a statement other than
/// DROP POLICY/DROP TRIGGER (DROP ... CASCADE of something it depends on,
/// DROP OWNED BY tenant_bypass, which drops the policies that role alone is
/// named in, DROP EXTENSION of an extension it was made to depend on) while
/// its table stays: refused (or warned about) like a DROP that names it.
fn refuse_indirect_drops() -> Result<()> {
    if ddl::is_own() || ddl::mode() == DdlGuard::Off {
        return Ok(());
    }
    let dropped = identity::as_registry_owner(|| {
        spi::pairs::<String, String>(
            "SELECT d.object_type OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) d.address_names[3],
                    pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname)
               FROM pg_catalog.pg_event_trigger_dropped_objects() d
               JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) d.address_names[1]
               JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid
                                         AND c.relname OPERATOR(pg_catalog.=) d.address_names[2]
               JOIN tenant.tables t ON t.relid OPERATOR(pg_catalog.=) c.oid
              WHERE d.object_type OPERATOR(pg_catalog.=) ANY (ARRAY['policy', 'trigger'])
              ORDER BY 2, 1",
            &[],
        )
    })?;
    let weakenings: Vec<Weakening> = dropped
        .into_iter()
        .filter(|(what, _)| {
            let (kind, name) = what.split_once(' ').unwrap_or((what.as_str(), ""));
            is_ours(
                if kind == "policy" {
                    "DROP POLICY"
                } else {
                    "DROP TRIGGER"
                },
                name,
            )
        })
        .map(|(what, table)| Weakening {
            table,
            what: format!("dropping {what} as a side effect of the statement"),
        })
        .collect();
    report(&weakenings);
    Ok(())
}

/// Raises (error) or warns about (warn) the first weakening.
fn report(weakenings: &[Weakening]) {
    let Some(first) = weakenings.first() else {
        return;
    };
    let message = format!(
        "{} would weaken tenant-scoped table {}",
        first.what, first.table
    );
    let quoted = first.table.replace('\'', "''");
    // An audit trigger (tenant_audit_enable's) is undone by tenant_audit_disable.
    let hint = if first.what.contains("tenant_audit_") {
        format!(
            "Its audit depends on it. To stop auditing the table, run SELECT tenant_audit_disable('{quoted}') (the log keeps its entries); a superuser can SET pg_tenant.ddl_guard = 'warn' or 'off' for the session."
        )
    } else {
        format!(
            "Its isolation depends on it. To stop isolating the table, run SELECT tenant_disable('{quoted}') first (and tenant_enable afterwards); a superuser can SET pg_tenant.ddl_guard = 'warn' or 'off' for the session."
        )
    };
    match ddl::mode() {
        DdlGuard::Error => error::raise(error::report(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            message,
            hint,
        )),
        DdlGuard::Warn => {
            pgrx::warning!("pg_tenant: {message} (pg_tenant.ddl_guard = 'warn' lets it run)")
        }
        DdlGuard::Off => {}
    }
}

/// Removes the registry rows of the tables this statement dropped.
fn forget_dropped_tables() -> Result<()> {
    let dropped = spi::column::<pg_sys::Oid>(
        "SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()
          WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
            AND objsubid OPERATOR(pg_catalog.=) 0",
        &[],
    )?;
    if dropped.is_empty() {
        return Ok(());
    }
    identity::as_registry_owner(|| {
        for relid in dropped {
            if is_registered(relid)? {
                usage::forget_table(relid)?;
                spi::execute(
                    "DELETE FROM tenant.tables WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid",
                    &[relid.into()],
                )?;
            }
        }
        Ok(())
    })
}

/// The parse tree of the statement an event trigger fires for; 39P01 when
/// the function was called some other way.
///
/// # Safety
/// `fcinfo` is the call's info as Postgres passed it.
pub(super) unsafe fn event_parsetree(
    fcinfo: pg_sys::FunctionCallInfo,
    function: &str,
) -> Result<*mut pg_sys::Node> {
    unsafe {
        let context = fcinfo.as_ref().map_or(std::ptr::null_mut(), |f| f.context);
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_EventTriggerData {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
                format!("{function}() is an event trigger function and can only be called as one"),
                "pg_tenant's event triggers call it; do not call it directly.",
            ));
        }
        Ok((*(context as *mut pg_sys::EventTriggerData)).parsetree)
    }
}

/// What the statement would weaken, and the permissive policies it adds.
///
/// # Safety
/// `tree` is NULL or a valid parse tree.
unsafe fn inspect(tree: *mut pg_sys::Node) -> Result<(Vec<Weakening>, Vec<Weakening>)> {
    let (mut weak, mut wide) = (Vec::new(), Vec::new());
    if tree.is_null() {
        return Ok((weak, wide));
    }
    unsafe {
        match (*tree).type_ {
            pg_sys::NodeTag::T_AlterTableStmt => {
                let stmt = tree as *mut pg_sys::AlterTableStmt;
                let named = scoped_table((*stmt).relation)?;
                let commands = PgList::<pg_sys::AlterTableCmd>::from_pg((*stmt).cmds);
                if let Some(table) = &named {
                    for cmd in commands.iter_ptr() {
                        if let Some(what) = weakening_command(table, cmd)? {
                            weak.push(Weakening {
                                table: table.name.clone(),
                                what,
                            });
                        }
                    }
                }
                // Without ONLY, column and trigger changes recurse into the
                // children, which may be tenant-scoped when the parent is not.
                if named.is_none() && !(*stmt).relation.is_null() && (*(*stmt).relation).inh {
                    for child in scoped_descendants(relid_of((*stmt).relation))? {
                        for cmd in commands.iter_ptr() {
                            if recurses((*cmd).subtype) {
                                if let Some(what) = weakening_command(&child, cmd)? {
                                    weak.push(Weakening {
                                        table: child.name.clone(),
                                        what: format!("{what} (through its parent)"),
                                    });
                                }
                            }
                        }
                    }
                }
                // Under a parent that is not tenant-scoped, a tenant-scoped
                // table's rows show through the parent's (missing) policies.
                for cmd in commands.iter_ptr() {
                    match (*cmd).subtype {
                        pg_sys::AlterTableType::AT_AddInherit => {
                            if let Some(table) = &named {
                                if scoped_table((*cmd).def as *mut pg_sys::RangeVar)?.is_none() {
                                    weak.push(Weakening {
                                        table: table.name.clone(),
                                        what: "INHERIT from a table that is not tenant-scoped"
                                            .into(),
                                    });
                                }
                            }
                        }
                        pg_sys::AlterTableType::AT_AttachPartition if named.is_none() => {
                            let partition = (*((*cmd).def as *mut pg_sys::PartitionCmd)).name;
                            if let Some(table) = scoped_table(partition)? {
                                weak.push(Weakening {
                                    table: table.name,
                                    what: "ATTACH PARTITION to a table that is not tenant-scoped"
                                        .into(),
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
            pg_sys::NodeTag::T_RuleStmt => {
                // A rule's actions run with the rights of the table's owner,
                // and DO INSTEAD sends a tenant's writes (or reads) elsewhere.
                let stmt = tree as *mut pg_sys::RuleStmt;
                if let Some(table) = scoped_table((*stmt).relation)? {
                    weak.push(Weakening {
                        table: table.name,
                        what: format!(
                            "CREATE RULE {} (its actions run with the table owner's rights)",
                            quote_identifier(cstr((*stmt).rulename))
                        ),
                    });
                }
            }
            pg_sys::NodeTag::T_CreateTrigStmt => {
                let stmt = tree as *mut pg_sys::CreateTrigStmt;
                let name = cstr((*stmt).trigname);
                if (*stmt).replace && is_ours("DROP TRIGGER", &name) {
                    if let Some(table) = scoped_table((*stmt).relation)? {
                        weak.push(Weakening {
                            table: table.name,
                            what: format!("CREATE OR REPLACE TRIGGER {name}"),
                        });
                    }
                }
            }
            pg_sys::NodeTag::T_AlterObjectDependsStmt => {
                let stmt = tree as *mut pg_sys::AlterObjectDependsStmt;
                if (*stmt).objectType == pg_sys::ObjectType::OBJECT_TRIGGER && !(*stmt).remove {
                    let names =
                        PgList::<pg_sys::Node>::from_pg((*stmt).object as *mut pg_sys::List);
                    let name = names
                        .get_ptr(names.len().saturating_sub(1))
                        .and_then(|n| string_of(n))
                        .unwrap_or_default();
                    if is_ours("DROP TRIGGER", &name) {
                        if let Some(table) = scoped_table((*stmt).relation)? {
                            weak.push(Weakening {
                                table: table.name,
                                what: format!("ALTER TRIGGER {name} DEPENDS ON EXTENSION (dropping the extension would drop it)"),
                            });
                        }
                    }
                }
            }
            pg_sys::NodeTag::T_DropStmt => {
                let stmt = tree as *mut pg_sys::DropStmt;
                let kind = match (*stmt).removeType {
                    pg_sys::ObjectType::OBJECT_POLICY => "DROP POLICY",
                    pg_sys::ObjectType::OBJECT_TRIGGER => "DROP TRIGGER",
                    _ => return Ok((weak, wide)),
                };
                let objects = PgList::<pg_sys::List>::from_pg((*stmt).objects);
                for names in objects.iter_ptr() {
                    // [schema.]table.name: the last name is the policy or trigger.
                    let length = (*names).length;
                    if length < 2 {
                        continue;
                    }
                    let list = PgList::<pg_sys::Node>::from_pg(names);
                    let Some(name) = list.get_ptr(length as usize - 1).and_then(|n| string_of(n))
                    else {
                        continue;
                    };
                    if !is_ours(kind, &name) {
                        continue;
                    }
                    let table_names = pg_sys::list_truncate(pg_sys::list_copy(names), length - 1);
                    if let Some(table) =
                        scoped_table(pg_sys::makeRangeVarFromNameList(table_names))?
                    {
                        weak.push(Weakening {
                            table: table.name,
                            what: format!("{kind} {name}"),
                        });
                    }
                }
            }
            pg_sys::NodeTag::T_AlterPolicyStmt => {
                let stmt = tree as *mut pg_sys::AlterPolicyStmt;
                let name = cstr((*stmt).policy_name);
                if is_ours("ALTER POLICY", &name) {
                    if let Some(table) = scoped_table((*stmt).table)? {
                        weak.push(Weakening {
                            table: table.name,
                            what: format!("ALTER POLICY {name}"),
                        });
                    }
                }
            }
            pg_sys::NodeTag::T_RenameStmt => {
                let stmt = tree as *mut pg_sys::RenameStmt;
                let subname = cstr((*stmt).subname);
                let what = match (*stmt).renameType {
                    pg_sys::ObjectType::OBJECT_POLICY if is_ours("ALTER POLICY", &subname) => {
                        format!("renaming policy {subname}")
                    }
                    pg_sys::ObjectType::OBJECT_TRIGGER if is_ours("DROP TRIGGER", &subname) => {
                        format!("renaming trigger {subname}")
                    }
                    pg_sys::ObjectType::OBJECT_COLUMN | pg_sys::ObjectType::OBJECT_ATTRIBUTE
                        if subname == TENANT_COLUMN =>
                    {
                        format!("renaming column {TENANT_COLUMN}")
                    }
                    _ => return Ok((weak, wide)),
                };
                if let Some(table) = scoped_table((*stmt).relation)? {
                    weak.push(Weakening {
                        table: table.name,
                        what,
                    });
                } else if (*stmt).renameType == pg_sys::ObjectType::OBJECT_COLUMN
                    && !(*stmt).relation.is_null()
                    && (*(*stmt).relation).inh
                {
                    for child in scoped_descendants(relid_of((*stmt).relation))? {
                        weak.push(Weakening {
                            table: child.name,
                            what: format!("{what} (through its parent)"),
                        });
                    }
                } else if (*stmt).renameType == pg_sys::ObjectType::OBJECT_ATTRIBUTE {
                    // ALTER TYPE ... RENAME ATTRIBUTE ... CASCADE renames the
                    // column of the tables of that type (CREATE TABLE ... OF).
                    for table in scoped_typed_tables(relid_of((*stmt).relation))? {
                        weak.push(Weakening {
                            table: table.name,
                            what: format!("{what} (through its composite type)"),
                        });
                    }
                }
            }
            pg_sys::NodeTag::T_CreatePolicyStmt => {
                let stmt = tree as *mut pg_sys::CreatePolicyStmt;
                let name = cstr((*stmt).policy_name);
                if (*stmt).permissive && !is_ours("ALTER POLICY", &name) {
                    if let Some(table) = scoped_table((*stmt).table)? {
                        wide.push(Weakening {
                            table: table.name,
                            what: format!("CREATE POLICY {name}"),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok((weak, wide))
}

/// A tenant-scoped table named by a statement.
pub(super) struct Scoped {
    pub(super) relid: pg_sys::Oid,
    /// Qualified and quoted.
    pub(super) name: String,
}

/// The table a RangeVar names, when it is registered in tenant.tables.
/// Resolved without a lock (the statement takes its own next); a table that
/// does not exist is the statement's business.
///
/// # Safety
/// `relation` is NULL or a valid RangeVar.
pub(super) unsafe fn scoped_table(relation: *mut pg_sys::RangeVar) -> Result<Option<Scoped>> {
    let relid = unsafe { relid_of(relation) };
    if relid == pg_sys::InvalidOid || !scoped_table_oid(relid)? {
        return Ok(None);
    }
    Ok(Some(Scoped {
        relid,
        name: qualified(relid),
    }))
}

/// `"schema"."table"`, quoted by Postgres.
pub(super) fn qualified(relid: pg_sys::Oid) -> String {
    // SAFETY: catalog lookups of an existing relation; NULLs are handled.
    unsafe {
        let (schema, name) = (
            pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid)),
            pg_sys::get_rel_name(relid),
        );
        if schema.is_null() || name.is_null() {
            return format!("relation {relid:?}");
        }
        let quoted = pg_sys::quote_qualified_identifier(schema, name);
        CStr::from_ptr(quoted).to_string_lossy().into_owned()
    }
}

/// What one ALTER TABLE subcommand would weaken, if anything.
///
/// # Safety
/// `cmd` is a valid AlterTableCmd.
#[allow(non_upper_case_globals)] // bindgen's names of AlterTableType
unsafe fn weakening_command(
    table: &Scoped,
    cmd: *mut pg_sys::AlterTableCmd,
) -> Result<Option<String>> {
    use pg_sys::AlterTableType::*;
    let (subtype, name) = unsafe { ((*cmd).subtype, cstr((*cmd).name)) };
    let on_column = name == TENANT_COLUMN;
    Ok(match subtype {
        AT_DisableRowSecurity => Some("DISABLE ROW LEVEL SECURITY".into()),
        AT_NoForceRowSecurity => Some("NO FORCE ROW LEVEL SECURITY".into()),
        AT_DropNotNull if on_column => Some(format!("DROP NOT NULL on {TENANT_COLUMN}")),
        AT_AlterColumnType if on_column => Some(format!("changing the type of {TENANT_COLUMN}")),
        AT_DropColumn if on_column => Some(format!("DROP COLUMN {TENANT_COLUMN}")),
        AT_DropConstraint if is_tenant_foreign_key(table.relid, &name)? => Some(format!(
            "dropping the foreign key {name} of {TENANT_COLUMN}"
        )),
        // PostgreSQL 18 keeps NOT NULL as a constraint that can be dropped by name.
        AT_DropConstraint if is_tenant_not_null(table.relid, &name)? => Some(format!(
            "dropping the NOT NULL constraint {name} of {TENANT_COLUMN}"
        )),
        AT_AlterConstraint => {
            let constraint = unsafe { altered_constraint_name(cmd) };
            if is_tenant_foreign_key(table.relid, &constraint)? {
                Some(format!(
                    "ALTER CONSTRAINT {constraint} (the foreign key of {TENANT_COLUMN})"
                ))
            } else {
                None
            }
        }
        AT_DisableTrig | AT_EnableReplicaTrig if is_ours("DROP TRIGGER", &name) => {
            Some(format!("disabling trigger {name}"))
        }
        AT_DisableTrigAll | AT_DisableTrigUser => Some(format!(
            "DISABLE TRIGGER {} (which includes {FILL_TRIGGER})",
            if subtype == AT_DisableTrigAll {
                "ALL"
            } else {
                "USER"
            }
        )),
        _ => None,
    })
}

/// The ALTER TABLE subcommands that, without ONLY, also change the children.
#[allow(non_upper_case_globals)] // bindgen's names of AlterTableType
fn recurses(subtype: pg_sys::AlterTableType::Type) -> bool {
    use pg_sys::AlterTableType::*;
    matches!(
        subtype,
        AT_DropNotNull
            | AT_AlterColumnType
            | AT_DropColumn
            | AT_DisableTrig
            | AT_DisableTrigAll
            | AT_DisableTrigUser
            | AT_EnableReplicaTrig
    )
}

/// The tenant-scoped tables among a table's descendants (inheritance and
/// partitions, all levels).
fn scoped_descendants(relid: pg_sys::Oid) -> Result<Vec<Scoped>> {
    if relid == pg_sys::InvalidOid {
        return Ok(Vec::new());
    }
    let children = identity::as_registry_owner(|| {
        spi::column::<pg_sys::Oid>(
            "WITH RECURSIVE tree(relid) AS (
                 SELECT inhrelid FROM pg_catalog.pg_inherits WHERE inhparent OPERATOR(pg_catalog.=) $1::pg_catalog.oid
                 UNION
                 SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent OPERATOR(pg_catalog.=) tree.relid)
             SELECT tree.relid FROM tree JOIN tenant.tables t ON t.relid OPERATOR(pg_catalog.=) tree.relid",
            &[relid.into()],
        )
    })?;
    Ok(children
        .into_iter()
        .map(|relid| Scoped {
            relid,
            name: qualified(relid),
        })
        .collect())
}

/// The tenant-scoped tables whose row type is the composite type
/// `type_relid` names (`CREATE TABLE ... OF type`).
fn scoped_typed_tables(type_relid: pg_sys::Oid) -> Result<Vec<Scoped>> {
    if type_relid == pg_sys::InvalidOid {
        return Ok(Vec::new());
    }
    let tables = identity::as_registry_owner(|| {
        spi::column::<pg_sys::Oid>(
            "SELECT c.oid FROM pg_catalog.pg_class c
               JOIN tenant.tables t ON t.relid OPERATOR(pg_catalog.=) c.oid
              WHERE c.reloftype OPERATOR(pg_catalog.=) (SELECT ct.reltype FROM pg_catalog.pg_class ct WHERE ct.oid OPERATOR(pg_catalog.=) $1)
              ORDER BY 1",
            &[type_relid.into()],
        )
    })?;
    Ok(tables
        .into_iter()
        .map(|relid| Scoped {
            relid,
            name: qualified(relid),
        })
        .collect())
}

/// The constraint an `ALTER CONSTRAINT` subcommand names ('' when none).
///
/// # Safety
/// `cmd` is a valid AT_AlterConstraint command.
unsafe fn altered_constraint_name(cmd: *mut pg_sys::AlterTableCmd) -> String {
    unsafe {
        let def = (*cmd).def;
        if def.is_null() {
            return String::new();
        }
        #[cfg(feature = "pg18")]
        if (*def).type_ == pg_sys::NodeTag::T_ATAlterConstraint {
            return cstr((*(def as *mut pg_sys::ATAlterConstraint)).conname);
        }
        if (*def).type_ == pg_sys::NodeTag::T_Constraint {
            return cstr((*(def as *mut pg_sys::Constraint)).conname);
        }
        String::new()
    }
}

/// Whether `name` is a foreign key of the table from tenant_id to tenant.tenants.
fn is_tenant_foreign_key(relid: pg_sys::Oid, name: &str) -> Result<bool> {
    is_tenant_constraint(relid, name, "f")
}

/// Whether `name` is the NOT NULL constraint of tenant_id (PostgreSQL 18
/// stores them in pg_constraint, contype 'n'; earlier majors have none).
fn is_tenant_not_null(relid: pg_sys::Oid, name: &str) -> Result<bool> {
    is_tenant_constraint(relid, name, "n")
}

/// Whether `name` is a constraint of kind `contype` on the table's tenant_id
/// (a foreign key: to tenant.tenants).
fn is_tenant_constraint(relid: pg_sys::Oid, name: &str, contype: &str) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT true FROM pg_catalog.pg_constraint c
           JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid
                                        AND a.attnum OPERATOR(pg_catalog.=) ANY (c.conkey)
          WHERE c.conrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
            AND c.conname OPERATOR(pg_catalog.=) $2
            AND c.contype::pg_catalog.text OPERATOR(pg_catalog.=) $4
            AND (c.contype OPERATOR(pg_catalog.<>) 'f' OR c.confrelid OPERATOR(pg_catalog.=) 'tenant.tenants'::pg_catalog.regclass)
            AND a.attname OPERATOR(pg_catalog.=) $3",
        &[relid.into(), name.into(), TENANT_COLUMN.into(), contype.into()],
    )?
    .unwrap_or(false))
}

/// Whether a policy (for `ALTER POLICY`/`DROP POLICY`) or trigger (for
/// `DROP TRIGGER`) name is one of tenant_enable's.
fn is_ours(kind: &str, name: &str) -> bool {
    if kind.ends_with("POLICY") {
        name == ISOLATION_POLICY || name == BYPASS_POLICY
    } else {
        OUR_TRIGGERS.contains(&name)
    }
}

fn cstr(text: *const c_char) -> std::string::String {
    if text.is_null() {
        return std::string::String::new();
    }
    // SAFETY: a NUL-terminated string of the parse tree.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// The text of a String node of a name list (`Value` up to PostgreSQL 14).
///
/// # Safety
/// `node` is NULL or a valid node.
unsafe fn string_of(node: *mut pg_sys::Node) -> Option<std::string::String> {
    unsafe {
        if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_String {
            return None;
        }
        #[cfg(any(feature = "pg13", feature = "pg14"))]
        let text = (*(node as *mut pg_sys::Value)).val.str_;
        #[cfg(not(any(feature = "pg13", feature = "pg14")))]
        let text = (*(node as *mut pg_sys::String)).sval;
        Some(cstr(text))
    }
}
