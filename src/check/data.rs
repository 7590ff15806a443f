//! Check 4: the registry's rows agree with one another and with the
//! tenant-scoped tables. Foreign keys and triggers keep them so while they
//! run; a restore with `--disable-triggers`, `session_replication_role =
//! replica` or a failed part of a restore leaves rows they never checked:
//!
//! - `registry_references`: registry rows that name a tenant, plan or table
//!   the registry does not have (a tenant on a plan lost in a restore);
//! - `tenant_rows`: rows of tenant-scoped tables whose tenant is not in the
//!   registry;
//! - `usage_counters`: row and member counters that disagree with the rows
//!   (counted per tenant: one grouped scan of each table), and storage totals
//!   that disagree with the per-table bytes. Bytes per table are recomputed
//!   only by `tenant_usage_reconcile()`, which reads every value.

use super::{Finding, Status};
use crate::error::Result;
use crate::names::TENANT_COLUMN;
use crate::store::{identity, lookup, spi, subxact};
use pgrx::prelude::*;
use pgrx::spi::quote_literal;
use std::collections::HashMap;

/// A foreign key between two registry tables, as the catalog describes it.
struct RegistryKey {
    constraint: String,
    child: String,
    parent: String,
    /// (child column, parent column), quoted.
    columns: Vec<(String, String)>,
}

const RECONCILE: &str = "SELECT * FROM tenant_usage_reconcile()";

pub fn check_all(registered: &[(pg_sys::Oid, Option<String>)]) -> Result<Vec<Finding>> {
    let mut findings = registry_references()?;
    findings.extend(tenant_rows_and_counters(registered)?);
    super::ok_when_empty(
        "registry_references",
        &mut findings,
        "every tenant, plan and table the registry's rows name exists",
    );
    super::ok_when_empty(
        "tenant_rows",
        &mut findings,
        "every row of a tenant-scoped table names a tenant of the registry",
    );
    super::ok_when_empty(
        "usage_counters",
        &mut findings,
        "row, member and storage counters agree with the data",
    );
    Ok(findings)
}

fn registry_keys() -> Result<Vec<RegistryKey>> {
    let rows = spi::pairs::<String, pgrx::JsonB>(
        "SELECT c.conname::text,
                jsonb_build_object(
                  'child', c.conrelid::regclass::text,
                  'parent', c.confrelid::regclass::text,
                  'columns', (SELECT jsonb_agg(jsonb_build_array(quote_ident(a.attname), quote_ident(f.attname)) ORDER BY k.i)
                                FROM unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child, parent, i)
                                JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.child
                                JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = k.parent))
           FROM pg_constraint c
          WHERE c.contype = 'f'
            AND c.connamespace = 'tenant'::regnamespace
            AND (SELECT relnamespace FROM pg_class WHERE oid = c.confrelid) = 'tenant'::regnamespace
          ORDER BY 1",
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|(constraint, described)| {
            let v = described.0;
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let columns = v["columns"]
                .as_array()
                .map(|pairs| {
                    pairs
                        .iter()
                        .map(|p| {
                            (
                                p[0].as_str().unwrap_or_default().to_string(),
                                p[1].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            RegistryKey {
                constraint,
                child: text("child"),
                parent: text("parent"),
                columns,
            }
        })
        .collect())
}

/// Rows of one registry table that name what its parent does not have,
/// checked as the foreign key would (operators named in pg_catalog: these
/// are pg_tenant's own tables, read as the registry owner).
fn registry_references() -> Result<Vec<Finding>> {
    identity::as_registry_owner(|| {
        let mut findings = Vec::new();
        for key in registry_keys()? {
            let each = |f: &dyn Fn(&str, &str) -> String, separator: &str| {
                key.columns
                    .iter()
                    .map(|(c, p)| f(c, p))
                    .collect::<Vec<_>>()
                    .join(separator)
            };
            let not_null = each(&|c, _| format!("child.{c} IS NOT NULL"), " AND ");
            let matches = each(
                &|c, p| format!("parent.{p} OPERATOR(pg_catalog.=) child.{c}"),
                " AND ",
            );
            let shown = each(&|c, _| format!("child.{c}::text"), " || ', ' || ");
            let sql = format!(
                "SELECT count(*), min({shown}) FROM {child} AS child
                  WHERE {not_null}
                    AND NOT EXISTS (SELECT FROM {parent} AS parent WHERE {matches})",
                child = key.child,
                parent = key.parent,
            );
            let Some((Some(count), example)) = spi::two::<i64, String>(&sql, &[])? else {
                continue;
            };
            if count == 0 {
                continue;
            }
            let columns = each(&|c, _| c.to_string(), ", ");
            findings.push(
                Finding::new(
                    "registry_references",
                    format!("{} constraint {}", key.child, key.constraint),
                    Status::Fail,
                    format!(
                        "{count} row(s) of {} name a {columns} that {} does not have (e.g. {}): the foreign key was not \
                         checked when they were written (a restore with --disable-triggers or a failed part of a \
                         restore, session_replication_role = replica)",
                        key.child,
                        key.parent,
                        example.unwrap_or_default()
                    ),
                )
                .fix(&[format!(
                    "-- restore {} from the dump (README, \"Backups\"), or delete or repoint those rows of {}",
                    key.parent, key.child
                )]),
            );
        }
        Ok(findings)
    })
}

/// Whether `relid` is a heap table without inheritance children and with
/// no block in its main fork: no tuple at all, committed or not (a
/// transaction that inserted one extended the file first). Exact, unlike
/// `pg_class.relpages`. It reads the catalog row and the size of the file,
/// under the lock the table would be read with, released at once: checking
/// thousands of tables holds no lock for any of them, and builds no
/// relation cache entry (opening the table would, which for thousands of
/// tables is most of what a first tenant_check in a session costs).
fn heap_is_empty(relid: pg_sys::Oid) -> bool {
    // An inheritance parent's count includes its children's rows.
    let candidate = lookup::with_locked_class(relid, |class| {
        class.relkind as u8 == pg_sys::RELKIND_RELATION
            && !class.relhassubclass
            && class.relam == pg_sys::HEAP_TABLE_AM_OID
    });
    match candidate {
        None => false,
        Some(candidate) => {
            let empty = candidate && main_fork_is_empty(relid);
            lookup::unlock_class(relid);
            empty
        }
    }
}

/// Whether the first segment of the table's main fork is an empty file:
/// `pg_relation_filepath` (relative to the data directory, the server's
/// working directory) reads only the catalog row. A file that cannot be
/// read is not known to be empty, so the table is counted.
fn main_fork_is_empty(relid: pg_sys::Oid) -> bool {
    // SAFETY: pg_relation_filepath takes one oid and returns text or NULL.
    let path: Option<String> = unsafe {
        pgrx::direct_function_call(
            pg_sys::pg_relation_filepath,
            &[Some(pg_sys::Datum::from(relid))],
        )
    };
    path.and_then(|p| std::fs::metadata(p).ok())
        .is_some_and(|m| m.is_file() && m.len() == 0)
}

/// A table's rows per tenant: (`tenant_id::text`, count).
type RowsPerTenant = Vec<(Option<String>, i64)>;

/// How many tables one scanning statement reads (a UNION ALL of grouped
/// counts): fewer statements to plan, and the locks they take released
/// after each (see `count_rows_per_tenant`).
const TABLES_PER_SCAN: usize = 200;

/// Rows per tenant (`tenant_id::text`, count) of each table, in order. Each
/// table is read as its owner (`identity::as_table_owner`), tables of one
/// owner `TABLES_PER_SCAN` at a time, each batch in a subtransaction that is
/// then rolled back: the counts are kept in memory, and the locks the scans
/// took (tables and their indexes) are released with it, so a database with
/// tens of thousands of tables stays within `max_locks_per_transaction`.
fn count_rows_per_tenant(
    scans: &[(pg_sys::Oid, &String)],
    owners: &HashMap<pg_sys::Oid, u32>,
) -> Result<Vec<RowsPerTenant>> {
    let mut results: Vec<RowsPerTenant> = vec![Vec::new(); scans.len()];
    let mut by_owner: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (i, (relid, _)) in scans.iter().enumerate() {
        let owner = owners.get(relid).copied().unwrap_or(0);
        by_owner
            .entry(owner)
            .or_insert_with(|| {
                order.push(owner);
                Vec::new()
            })
            .push(i);
    }
    for owner in order {
        for chunk in by_owner[&owner].chunks(TABLES_PER_SCAN) {
            let sql = chunk
                .iter()
                .enumerate()
                .map(|(k, &i)| {
                    format!(
                        "SELECT {k}::pg_catalog.int4, {TENANT_COLUMN}::pg_catalog.text, pg_catalog.count(*) FROM {} AS counted_rows GROUP BY 2",
                        scans[i].1
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let first = scans[chunk[0]].0;
            let read = || {
                identity::as_table_owner(first, || {
                    Spi::connect(|client| {
                        let mut out = Vec::new();
                        for row in client.select(&sql, None, &[])? {
                            out.push((
                                row.get::<i32>(1)?.unwrap_or(0),
                                row.get::<String>(2)?,
                                row.get::<i64>(3)?.unwrap_or(0),
                            ));
                        }
                        Ok(out)
                    })
                    .map_err(crate::error::internal)
                })
            };
            let rows = match subxact::in_subtransaction(subxact::Keep::Never, read) {
                Ok(rows) => rows?,
                // A cancel (statement_timeout, pg_cancel_backend) fires once:
                // reading again would run on without it.
                Err(caught) if caught.sqlstate.starts_with("57") => {
                    return Err(crate::error::report(
                        PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
                        caught.message,
                        "tenant_check was canceled while counting rows; run it again with more time.",
                    ))
                }
                // Read again outside the subtransaction: the error is raised
                // as it is, with its own SQLSTATE.
                Err(_) => read()?,
            };
            for (k, tenant, n) in rows {
                if let Some(&i) = chunk.get(k as usize) {
                    results[i].push((tenant, n));
                }
            }
        }
    }
    Ok(results)
}

/// Each tenant-scoped table's rows per tenant against the registry and the
/// counters.
fn tenant_rows_and_counters(registered: &[(pg_sys::Oid, Option<String>)]) -> Result<Vec<Finding>> {
    let (slugs, counted, per_tenant, tables) = identity::as_registry_owner(|| {
        let slugs = spi::pairs::<String, String>("SELECT id::text, slug FROM tenant.tenants", &[])?;
        let counted = spi::pairs::<String, i64>(
            "SELECT tenant_id::text || '/' || relid::oid::text, sum(row_count)::bigint FROM tenant.usage_by_table GROUP BY tenant_id, relid",
            &[],
        )?;
        // Per tenant: the member counter and the members; the storage
        // counter and the per-table bytes.
        let per_tenant = spi::pairs::<String, pgrx::JsonB>(
            "SELECT t.slug, jsonb_build_array(
                      coalesce((SELECT sum(u.members) FROM tenant.usage_totals u
                                 WHERE u.tenant_id OPERATOR(pg_catalog.=) t.id), 0),
                      (SELECT count(*) FROM tenant.members m WHERE m.tenant_id OPERATOR(pg_catalog.=) t.id),
                      coalesce((SELECT sum(u.storage_bytes) FROM tenant.usage_totals u
                                 WHERE u.tenant_id OPERATOR(pg_catalog.=) t.id), 0),
                      coalesce((SELECT sum(b.bytes) FROM tenant.usage_by_table b
                                 WHERE b.tenant_id OPERATOR(pg_catalog.=) t.id), 0))
               FROM tenant.tenants t
              ORDER BY t.slug",
            &[],
        )?;
        // Per registered table: whether it counts usage, and whether a
        // partition or inheritance parent of it, at any depth, is registered.
        let tables = spi::pairs::<pg_sys::Oid, pgrx::JsonB>(
            "WITH RECURSIVE up (relid, ancestor) AS (
                 SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i
                 UNION
                 SELECT up.relid, i.inhparent FROM up JOIN pg_catalog.pg_inherits i ON i.inhrelid = up.ancestor)
             SELECT t.relid::oid, jsonb_build_array(t.track_usage,
                      EXISTS (SELECT FROM up JOIN tenant.tables a ON a.relid::oid = up.ancestor
                               WHERE up.relid = t.relid::oid),
                      (SELECT c.relowner::int8 FROM pg_catalog.pg_class c WHERE c.oid = t.relid::oid),
                      EXISTS (SELECT FROM up JOIN tenant.tables a ON a.relid::oid = up.ancestor
                               WHERE up.relid = t.relid::oid AND a.track_usage))
               FROM tenant.tables t",
            &[],
        )?;
        Ok((slugs, counted, per_tenant, tables))
    })?;
    let slug_of: HashMap<String, String> = slugs.into_iter().collect();
    let mut counters: HashMap<(String, u32), i64> = HashMap::new();
    for (key, rows) in counted {
        if let Some((tenant, relid)) = key.split_once('/') {
            counters.insert(
                (tenant.to_string(), relid.parse().unwrap_or_default()),
                rows,
            );
        }
    }
    let owners: HashMap<pg_sys::Oid, u32> = tables
        .iter()
        .map(|(relid, flags)| (*relid, flags.0[2].as_u64().unwrap_or(0) as u32))
        .collect();
    // A partition or inheritance child of a counted table counts on it
    // (`usage::counted_as`): scanned through it, as a relative that counts
    // nothing itself is.
    let tables: HashMap<pg_sys::Oid, (bool, bool)> = tables
        .into_iter()
        .map(|(relid, flags)| {
            let flag = |i: usize| flags.0[i].as_bool().unwrap_or(false);
            (relid, (flag(0) && !flag(3), flag(1)))
        })
        .collect();
    // The tables to scan, grouped by owner (each is read as its owner).
    let mut scans: Vec<(pg_sys::Oid, &String)> = Vec::new();
    for (relid, name) in registered {
        let Some(name) = name else { continue };
        let (tracked, under_registered) = tables.get(relid).copied().unwrap_or_default();
        // A relative of a registered table that counts nothing itself is
        // scanned through that table.
        if !tracked && under_registered {
            continue;
        }
        scans.push((*relid, name));
    }
    // A heap table without a single block has no row at all: nothing to
    // scan (its counters must still be zero, checked below).
    let (empty, scans): (Vec<_>, Vec<_>) = scans
        .into_iter()
        .partition(|(relid, _)| heap_is_empty(*relid));
    let counted_rows = count_rows_per_tenant(&scans, &owners)?;
    let scans: Vec<(pg_sys::Oid, &String)> = scans.into_iter().chain(empty).collect();
    let counted_rows = counted_rows
        .into_iter()
        .chain(std::iter::repeat_with(Vec::new))
        .take(scans.len());
    let mut findings = Vec::new();
    for ((relid, name), actual) in scans.iter().zip(counted_rows) {
        let (relid, name) = (*relid, *name);
        let (tracked, _) = tables.get(&relid).copied().unwrap_or_default();
        let orphans: i64 = actual
            .iter()
            .filter(|(t, _)| t.as_ref().is_some_and(|t| !slug_of.contains_key(t)))
            .map(|(_, n)| n)
            .sum();
        if orphans > 0 {
            findings.push(
                Finding::new(
                    "tenant_rows",
                    name.clone(),
                    Status::Fail,
                    format!(
                        "{orphans} row(s) name a tenant that tenant.tenants does not have: the registry was not \
                         restored with the data, or the table's foreign key to it is missing"
                    ),
                )
                .fix(&["-- restore the registry from the same dump (README, \"Backups\"), or delete those rows".into()]),
            );
        }
        if !tracked {
            continue;
        }
        let mut wrong = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (tenant, rows) in actual.iter() {
            let Some(tenant) = tenant.as_ref().filter(|t| slug_of.contains_key(*t)) else {
                continue;
            };
            seen.insert(tenant.clone());
            let recorded = counters
                .get(&(tenant.clone(), relid.to_u32()))
                .copied()
                .unwrap_or(0);
            if recorded != *rows {
                wrong.push((tenant.clone(), recorded, *rows));
            }
        }
        for ((tenant, table), recorded) in &counters {
            if *table == relid.to_u32() && *recorded != 0 && !seen.contains(tenant) {
                wrong.push((tenant.clone(), *recorded, 0));
            }
        }
        if wrong.is_empty() {
            continue;
        }
        wrong.sort();
        let examples = wrong
            .iter()
            .take(3)
            .map(|(tenant, recorded, rows)| {
                let label = slug_of
                    .get(tenant)
                    .cloned()
                    .unwrap_or_else(|| tenant.clone());
                format!("{label}: counted {recorded}, has {rows}")
            })
            .collect::<Vec<_>>()
            .join("; ");
        findings.push(
            Finding::new(
                "usage_counters",
                name.clone(),
                Status::Fail,
                format!(
                    "row counters disagree with the rows for {} tenant(s) ({examples}): quotas are enforced \
                     against wrong numbers",
                    wrong.len()
                ),
            )
            .fix(&[RECONCILE.into()]),
        );
    }
    for (slug, counts) in per_tenant {
        let count = |i: usize| counts.0[i].as_i64().unwrap_or(0);
        let reconcile = format!(
            "SELECT * FROM tenant_usage_reconcile({})",
            quote_literal(&slug)
        );
        if count(0) != count(1) {
            findings.push(
                Finding::new(
                    "usage_counters",
                    format!("tenant {slug}"),
                    Status::Fail,
                    format!(
                        "member counter says {}, tenant.members has {}",
                        count(0),
                        count(1)
                    ),
                )
                .fix(std::slice::from_ref(&reconcile)),
            );
        }
        if count(2) != count(3) {
            findings.push(
                Finding::new(
                    "usage_counters",
                    format!("tenant {slug}"),
                    Status::Fail,
                    format!(
                        "storage counter says {} bytes, the per-table counters add up to {}",
                        count(2),
                        count(3)
                    ),
                )
                .fix(&[reconcile]),
            );
        }
    }
    Ok(findings)
}
