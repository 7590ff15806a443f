//! Erasing a tenant (`tenant_purge`, `tenant_purge_expired`): its rows are
//! deleted table by table, each table's removed keys digested as they go;
//! then every tenant-scoped table and every registry table is searched for a
//! row left behind (a trigger or rule that kept one, a row added meanwhile),
//! which fails the purge and changes nothing; then an erasure record is
//! written into `tenant.erasures`, which outlives the data: operators read
//! it, nobody changes it (`_tenant_append_only`).
//!
//! A table's digest is SHA-256 over its removed rows' keys (the primary key
//! as a row literal, `(a0ee...,42)`, or the whole row when the table has no
//! primary key), sorted byte by byte, each followed by a newline: anyone
//! holding the keys (a backup, a list from the customer) can recompute it in
//! SQL (docs/reference.md, "Erasure records").

use crate::error::{self, Result};
use crate::names::{TENANTS_TABLE, TENANT_COLUMN, USER_SETTING};
use crate::registry::tenants::Tenant;
use crate::store::{identity, lookup, spi};
use crate::tables::state::{self, RowEvent};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use std::collections::{BTreeMap, BTreeSet};

/// What a purge removed from one table.
pub struct Erased {
    /// The table, quoted and qualified.
    pub relation: String,
    pub rows: i64,
    /// SHA-256 (hex) over the removed rows' keys; see the module comment.
    pub keys_sha256: String,
}

/// Which function purged.
#[derive(Clone, Copy)]
pub enum Via {
    Purge { forced: bool },
    Expired,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Purge { .. } => "tenant_purge",
            Via::Expired => "tenant_purge_expired",
        }
    }

    fn forced(self) -> bool {
        matches!(self, Via::Purge { forced: true })
    }
}

/// Erases `tenant` (its registry row already locked): the rows of every
/// tenant-scoped table (children before the tables they reference), each
/// table's rows deleted as that table's owner (`identity::as_table_owner`,
/// never as the registry owner: the table's own triggers, rules and foreign
/// key actions run with its owner's rights); the proof that none is left;
/// then the registry's rows (members, domains, settings, limits, usage, audit
/// entries), table by table, and the tenant's row; the proof again for the
/// registry; then the erasure record. Returns what was removed, tenant-
/// scoped tables first, then the registry's.
pub fn erase(tenant: &Tenant, via: Via) -> Result<Vec<Erased>> {
    // Who asks, before pg_tenant acts as the registry owner.
    let (erased_by, session_role, app_user) = spi::three::<String, String, String>(
        "SELECT current_user::text, session_user::text,
                nullif(pg_catalog.current_setting($1, true), '')",
        &[USER_SETTING.to_str().unwrap_or_default().into()],
    )?
    .unwrap_or((None, None, None));
    // The purge's own deletes are recorded in the erasure record, not in
    // the audit log it erases.
    super::audit::while_purging(tenant.id, || {
        identity::as_registry_owner(|| {
            let tables = purge_order()?;
            refuse_deferred(&tables)?;
            let through = with_unregistered_children()?;
            let mut erased = Vec::with_capacity(tables.len());
            for (relid, table) in &tables {
                // A table's own rows only (each child reports its own), but
                // through a parent whose children are not all tenant-scoped.
                let only = unsafe { pg_sys::get_rel_relkind(*relid) } as u8
                    == pg_sys::RELKIND_RELATION
                    && !through.contains(&relid.to_u32());
                erased.push(identity::as_table_owner(*relid, || {
                    delete(tenant, *relid, table, TENANT_COLUMN, only)
                })?);
            }
            // The proof, before the registry's rows go (whose foreign keys
            // would otherwise refuse first, naming no cause): no row of the
            // tenant is left in any tenant-scoped table, partitions and
            // inheritance children included (each is read with its parent).
            for (relid, table) in &tables {
                identity::as_table_owner(*relid, || none_left(tenant, table, TENANT_COLUMN))?;
            }
            // The registry's rows of the tenant, table by table as the
            // registry owner, then the tenant's row; then the proof for them.
            let mut registry = registry_tables()?;
            registry.push((
                lookup::registry_table(TENANTS_TABLE)?,
                "tenant.tenants".into(),
                "id".into(),
            ));
            for (relid, table, column) in &registry {
                erased.push(delete(tenant, *relid, table, column, true)?);
            }
            for (_, table, column) in &registry {
                none_left(tenant, table, column)?;
            }
            record(
                tenant,
                via,
                &erased,
                tables.len() + registry.len(),
                (&erased_by, &session_role, &app_user),
            )?;
            Ok(erased)
        })
    })
}

/// Refuses (0A000), before anything is deleted, a tenant-scoped table whose
/// deletes would queue an INITIALLY DEFERRED trigger: the deletes run as
/// the table's owner in a security-restricted operation, where Postgres
/// cannot queue one, so the purge would fail half-way with Postgres' own
/// error (`tables::state::deferred_triggers`).
fn refuse_deferred(tables: &[(pg_sys::Oid, String)]) -> Result<()> {
    for (relid, table) in tables {
        let deferred = state::deferred_triggers(*relid, RowEvent::Delete)?;
        if !deferred.is_empty() {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!(
                    "tenant_purge: {table} has INITIALLY DEFERRED triggers or foreign keys that fire on DELETE ({}); nothing was purged",
                    deferred.join(", ")
                ),
                "tenant_purge deletes as the table's owner, where Postgres cannot queue a deferred trigger: make them immediate (ALTER TABLE ... ALTER CONSTRAINT ... INITIALLY IMMEDIATE; a constraint trigger: recreate it without INITIALLY DEFERRED), then purge again.",
            ));
        }
    }
    Ok(())
}

/// Deletes the tenant's rows of one table (`column` names the tenant) and
/// digests their keys as they go.
fn delete(
    tenant: &Tenant,
    relid: pg_sys::Oid,
    table: &str,
    column: &str,
    only: bool,
) -> Result<Erased> {
    let key = key_of(relid)?;
    let only = if only { "ONLY " } else { "" };
    let sql = format!(
        "WITH gone AS (DELETE FROM {only}{table} AS t WHERE t.{column} OPERATOR(pg_catalog.=) $1
                        RETURNING {key}::pg_catalog.text AS k)
         SELECT k FROM gone ORDER BY k COLLATE pg_catalog.\"C\""
    );
    let (rows, keys_sha256) = digest(&sql, &[tenant.id.into()])?;
    Ok(Erased {
        relation: table.to_string(),
        rows,
        keys_sha256,
    })
}

/// The proof for one table: no row of the tenant is left in it (55000
/// otherwise, and the purge is undone with the statement).
fn none_left(tenant: &Tenant, table: &str, column: &str) -> Result<()> {
    let left = spi::one::<i64>(
        &format!(
            "SELECT pg_catalog.count(*) FROM {table} WHERE {column} OPERATOR(pg_catalog.=) $1"
        ),
        &[tenant.id.into()],
    )?
    .unwrap_or(0);
    if left > 0 {
        return Err(rows_left(tenant, table, left));
    }
    Ok(())
}

/// `spi::digest_rows` with values printed by fixed settings
/// (`identity::with_canonical_output`), so that a digest can be recomputed.
fn digest(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<(i64, String)> {
    identity::with_canonical_output(|| spi::digest_rows(sql, args))
}

/// 55000, and the purge is undone with the statement.
fn rows_left(tenant: &Tenant, table: &str, left: i64) -> ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!(
            "tenant_purge: {left} row(s) of tenant {} remain in {table} after the delete; nothing was purged",
            tenant.label()
        ),
        format!("A trigger or rule on {table} keeps rows from being deleted, or rows were added meanwhile: fix that, then purge again."),
    )
}

/// The erasure record (`tenant.erasures`): who, when, how, and per table
/// how many rows and their keys' digest; its own digest covers the lines
/// `relation<TAB>rows<TAB>keys_sha256` of every table, in order.
fn record(
    tenant: &Tenant,
    via: Via,
    erased: &[Erased],
    checked: usize,
    (erased_by, session_role, app_user): (&Option<String>, &Option<String>, &Option<String>),
) -> Result<()> {
    let mut summary = spi::LineDigest::default();
    for e in erased {
        summary.add(&format!("{}\t{}\t{}", e.relation, e.rows, e.keys_sha256));
    }
    let tables: Vec<serde_json::Value> = erased
        .iter()
        .map(|e| serde_json::json!({"relation": e.relation, "rows": e.rows, "keys_sha256": e.keys_sha256}))
        .collect();
    let rows: i64 = erased.iter().map(|e| e.rows).sum();
    spi::execute(
        "INSERT INTO tenant.erasures (tenant_id, erased_by, session_role, app_user, via, forced,
                                      tables, rows_removed, keys_sha256, checked_tables)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            tenant.id.into(),
            erased_by.clone().into(),
            session_role.clone().into(),
            app_user.clone().into(),
            via.name().into(),
            via.forced().into(),
            pgrx::JsonB(serde_json::Value::Array(tables)).into(),
            rows.into(),
            summary.finish().into(),
            (checked as i32).into(),
        ],
    )
}

/// A table's key as a row expression over alias `t`: the primary key's
/// columns in key order, or the whole row.
fn key_of(relid: pg_sys::Oid) -> Result<String> {
    let columns = crate::tables::catalog::primary_key(relid)?;
    Ok(if columns.is_empty() {
        "ROW(t.*)".to_string()
    } else {
        let columns: Vec<String> = columns
            .iter()
            .map(|c| format!("t.{}", quote_identifier(c)))
            .collect();
        format!("ROW({})", columns.join(", "))
    })
}

/// The registry tables that hold rows of a tenant: every table of the
/// `tenant` schema with a `tenant_id` column but `tenant.erasures`, which
/// outlives the tenant (`tenant.tenants` itself is the caller's): OID, name
/// and the column naming the tenant.
fn registry_tables() -> Result<Vec<(pg_sys::Oid, String, String)>> {
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(
            "SELECT c.oid, 'tenant.' || pg_catalog.quote_ident(c.relname::text), pg_catalog.quote_ident(a.attname::text)
               FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped
              WHERE c.relnamespace = 'tenant'::pg_catalog.regnamespace AND c.relkind = 'r'
                AND c.oid <> 'tenant.erasures'::pg_catalog.regclass
              ORDER BY 2",
            None,
            &[TENANT_COLUMN.into()],
        )? {
            if let (Some(oid), Some(table), Some(column)) = (row.get(1)?, row.get(2)?, row.get(3)?) {
                out.push((oid, table, column));
            }
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .map_err(error::internal)
}

/// The tenant-scoped tables (OID and quoted, qualified name), ordered so that
/// a table comes before every tenant-scoped table it references by foreign key.
/// The tenant-scoped plain tables with an inheritance child (or partition,
/// for a table that is both) that is not tenant-scoped: that child's rows
/// are reached only through them.
pub(super) fn with_unregistered_children() -> Result<BTreeSet<u32>> {
    Ok(spi::column::<pg_sys::Oid>(
        "SELECT DISTINCT i.inhparent FROM pg_catalog.pg_inherits i
           JOIN tenant.tables t ON t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) i.inhparent
          WHERE NOT EXISTS (SELECT FROM tenant.tables c
                             WHERE c.relid::pg_catalog.oid OPERATOR(pg_catalog.=) i.inhrelid)",
        &[],
    )?
    .into_iter()
    .map(|o| o.to_u32())
    .collect())
}

pub(super) fn purge_order() -> Result<Vec<(pg_sys::Oid, String)>> {
    let tables = spi::pairs::<String, pg_sys::Oid>(
        "SELECT c.oid::regclass::text, c.oid FROM tenant.tables t JOIN pg_class c ON c.oid = t.relid ORDER BY 1",
        &[],
    )?;
    let edges = spi::pairs::<String, String>(
        "SELECT k.conrelid::regclass::text, k.confrelid::regclass::text
           FROM pg_constraint k
          WHERE k.contype = 'f' AND k.conrelid <> k.confrelid
            AND k.conrelid IN (SELECT relid FROM tenant.tables)
            AND k.confrelid IN (SELECT relid FROM tenant.tables)",
        &[],
    )?;
    let oids: BTreeMap<String, pg_sys::Oid> = tables.iter().cloned().collect();
    let names = tables.into_iter().map(|(name, _)| name).collect();
    Ok(children_first(names, &edges)
        .into_iter()
        .map(|name| (oids[&name], name))
        .collect())
}

/// Orders `tables` so that each child (referencing table) precedes its
/// parents; tables caught in a reference cycle keep their given order at the
/// end (their foreign keys then decide, e.g. ON DELETE CASCADE).
fn children_first(tables: Vec<String>, child_parent: &[(String, String)]) -> Vec<String> {
    let mut referencing: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (child, parent) in child_parent {
        referencing
            .entry(parent.as_str())
            .or_default()
            .insert(child.as_str());
    }
    let mut ordered: Vec<String> = Vec::new();
    let mut remaining = tables;
    loop {
        let done: BTreeSet<&str> = ordered.iter().map(String::as_str).collect();
        let (ready, blocked): (Vec<String>, Vec<String>) = remaining.into_iter().partition(|t| {
            referencing
                .get(t.as_str())
                .is_none_or(|children| children.iter().all(|c| done.contains(c) || *c == t))
        });
        if ready.is_empty() {
            ordered.extend(blocked);
            return ordered;
        }
        ordered.extend(ready);
        remaining = blocked;
        if remaining.is_empty() {
            return ordered;
        }
    }
}

// BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) trigger on
// tenant.erasures (sql/finalize.sql): the records are append-only.
crate::trigger_function!(
    _tenant_append_only,
    pg_finfo__tenant_append_only,
    append_only
);

fn append_only<'a>(
    trigger: &'a PgTrigger<'a>,
) -> std::result::Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ErrorReport> {
    let table = trigger.table_name().unwrap_or_default();
    Err(error::report(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("tenant.{table} is append-only: its records cannot be changed or removed"),
        if table == "bypass_log" {
            "Break-glass records are evidence; pg_tenant only adds them (every use of the bypass)."
        } else {
            "Erasure records outlive the data they describe; pg_tenant only adds them (tenant_purge, tenant_purge_expired)."
        },
    ))
}

#[cfg(test)]
mod unit_tests {
    use super::children_first;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn children_are_purged_before_their_parents() {
        // tasks -> projects -> clients ; comments -> tasks
        let edges = vec![
            ("tasks".to_string(), "projects".to_string()),
            ("projects".to_string(), "clients".to_string()),
            ("comments".to_string(), "tasks".to_string()),
        ];
        let order = children_first(names(&["clients", "comments", "projects", "tasks"]), &edges);
        let pos = |t: &str| order.iter().position(|x| x == t).unwrap();
        assert!(pos("comments") < pos("tasks"));
        assert!(pos("tasks") < pos("projects"));
        assert!(pos("projects") < pos("clients"));
        assert_eq!(order.len(), 4);
    }

    #[test]
    fn cycles_do_not_lose_tables() {
        let edges = vec![
            ("a".to_string(), "b".to_string()),
            ("b".to_string(), "a".to_string()),
        ];
        let mut order = children_first(names(&["a", "b", "c"]), &edges);
        order.sort();
        assert_eq!(order, names(&["a", "b", "c"]));
    }
}
