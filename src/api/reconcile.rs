//! `tenant_usage_reconcile` recomputes the usage counters from the tables, and
//! `tenant_storage_used` reads a tenant's storage figure.
//!
//! The counters are exact as long as every write goes through the triggers;
//! reconciliation repairs them after what triggers do not see (a trigger
//! disabled for a bulk load, `session_replication_role = replica`, direct
//! writes to a partition). It locks the tenant's counters first, so the
//! tenant's writers wait, then counts with fresh snapshots: a write that
//! committed before is counted, one that commits after adds its delta to
//! the corrected figures. It also folds a tenant's stripes (see
//! `store::escrow`) back into stripe 0.

use crate::enforce::{authz, usage};
use crate::error::{self, Result};
use crate::registry::tenants::{self, Tenant};
use crate::store::{escrow, identity, spi};
use pgrx::prelude::*;
use pgrx::Uuid;

/// One counter whose recorded value was wrong.
struct Correction {
    tenant: Uuid,
    slug: String,
    counter: &'static str,
    table: Option<String>,
    recorded: i64,
    actual: i64,
}

/// A table that counts usage: its OID and its name quoted by Postgres.
struct CountedTable {
    relid: pg_sys::Oid,
    name: String,
    /// The tables its recount reads, found once for every tenant.
    tree: usage::Tree,
}

/// `tenant_usage_reconcile(t default NULL)`: recomputes the member count,
/// rows and bytes per table, and storage of one tenant (or of every tenant)
/// and returns the counters it corrected, with the recorded and the actual
/// value. No rows: every counter was right.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_usage_reconcile(
    t: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(tenant_id, Option<Uuid>),
            name!(slug, Option<String>),
            name!(counter, Option<String>),
            name!(table_name, Option<String>),
            name!(recorded, Option<i64>),
            name!(actual, Option<i64>),
        ),
    >,
> {
    refuse_snapshot_isolation()?;
    let tenants = match t {
        Some(_) => vec![tenants::find(t, "tenant_usage_reconcile")?],
        None => all_tenants()?,
    };
    let schema = spi::extension_schema()?;
    let corrections = identity::as_registry_owner(|| {
        let tables = counted_tables()?;
        let mapped = partitions_counted_on_a_root()?;
        let mut out = Vec::new();
        for tenant in &tenants {
            out.extend(reconcile_tenant(tenant, &tables, &mapped, &schema)?);
        }
        Ok(out)
    })?;
    Ok(TableIterator::new(corrections.into_iter().map(|c| {
        (
            Some(c.tenant),
            Some(c.slug),
            Some(c.counter.to_string()),
            c.table,
            Some(c.recorded),
            Some(c.actual),
        )
    })))
}

/// Counting must see what committed after the lock was taken, which a
/// transaction-wide snapshot would hide.
fn refuse_snapshot_isolation() -> Result<()> {
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_ACTIVE_SQL_TRANSACTION,
            "tenant_usage_reconcile must run at READ COMMITTED isolation",
            "Run it in its own READ COMMITTED transaction (the default).",
        ));
    }
    Ok(())
}

fn all_tenants() -> Result<Vec<Tenant>> {
    let ids = identity::as_registry_owner(|| {
        spi::column::<String>("SELECT id::text FROM tenant.tenants ORDER BY id", &[])
    })?;
    ids.iter()
        .map(|id| tenants::find(Some(id), "tenant_usage_reconcile"))
        .collect()
}

/// Every registered table with each of its ancestors (partition parents and
/// inheritance parents, any depth).
const ANCESTORS: &str = "WITH RECURSIVE up (relid, ancestor) AS (
         SELECT i.inhrelid, i.inhparent FROM pg_inherits i
         UNION SELECT up.relid, i.inhparent FROM up JOIN pg_inherits i ON i.inhrelid = up.ancestor)";

/// The counted tables whose counters are recounted: not the partitions and
/// inheritance children of a counted table, which count on it
/// (`usage::counted_as`) and whose rows its recount takes in.
fn counted_tables() -> Result<Vec<CountedTable>> {
    spi::pairs::<pg_sys::Oid, String>(
        &format!(
            "{ANCESTORS}
             SELECT t.relid::oid, t.relid::regclass::text FROM tenant.tables t
              WHERE t.track_usage AND NOT EXISTS (
                    SELECT FROM up JOIN tenant.tables p ON p.relid::oid = up.ancestor
                     WHERE up.relid = t.relid::oid AND p.track_usage)
              ORDER BY t.relid"
        ),
        &[],
    )?
    .into_iter()
    .map(|(relid, name)| {
        Ok(CountedTable {
            relid,
            name,
            tree: usage::Tree::of(relid)?,
        })
    })
    .collect::<Result<Vec<_>>>()
}

/// The counted partitions and inheritance children that count on a counted
/// ancestor (`usage::counted_as`): counters of their own are stray.
fn partitions_counted_on_a_root() -> Result<Vec<pg_sys::Oid>> {
    spi::column::<pg_sys::Oid>(
        &format!(
            "{ANCESTORS}
             SELECT t.relid::oid FROM tenant.tables t
              WHERE t.track_usage AND EXISTS (
                    SELECT FROM up JOIN tenant.tables p ON p.relid::oid = up.ancestor
                     WHERE up.relid = t.relid::oid AND p.track_usage)"
        ),
        &[],
    )
}

fn reconcile_tenant(
    tenant: &Tenant,
    tables: &[CountedTable],
    mapped: &[pg_sys::Oid],
    schema: &str,
) -> Result<Vec<Correction>> {
    let id = tenant.id;
    let correction = |counter, table: Option<&str>, recorded, actual| Correction {
        tenant: id,
        slug: tenant.slug.clone(),
        counter,
        table: table.map(str::to_string),
        recorded,
        actual,
    };
    // Lock first: preloaded, the tenant's counters in the escrow (the
    // writers in progress end first, new ones wait; they may be writing
    // stripes of their own); always, every stripe of the totals (creating
    // stripe 0 if needed), which non-preloaded writers queue on. The lock also makes every following query take a fresh
    // snapshot (SPI reads after a write).
    if escrow::available() {
        escrow::exclude_writers(id.as_bytes())?;
    }
    spi::execute(
        "INSERT INTO tenant.usage_totals (tenant_id) VALUES ($1) ON CONFLICT (tenant_id, stripe) DO NOTHING",
        &[id.into()],
    )?;
    let (recorded_members, recorded_storage, stripes) = spi::three::<i64, i64, i64>(
        "SELECT sum(members)::bigint, sum(storage_bytes)::bigint, count(*)
           FROM (SELECT members, storage_bytes FROM tenant.usage_totals WHERE tenant_id = $1 FOR UPDATE) s",
        &[id.into()],
    )?
    .map(|(m, s, n)| (m.unwrap_or(0), s.unwrap_or(0), n.unwrap_or(0)))
    .unwrap_or((0, 0, 0));
    let mut out = Vec::new();
    let mut storage = 0;
    for table in tables {
        let (rows, bytes) = count_rows(table, id, schema)?;
        let (recorded_rows, recorded_bytes, stripes) = spi::three::<i64, i64, i64>(
            "SELECT sum(row_count)::bigint, sum(bytes)::bigint, count(*) FROM tenant.usage_by_table WHERE tenant_id = $1 AND relid = $2::regclass",
            &[id.into(), table.relid.into()],
        )?
        .map(|(r, b, n)| (r.unwrap_or(0), b.unwrap_or(0), n.unwrap_or(0)))
        .unwrap_or((0, 0, 0));
        storage += bytes;
        if (rows, bytes) == (recorded_rows, recorded_bytes) && stripes <= 1 {
            continue;
        }
        // The figures go to stripe 0, the other stripes away (also when
        // they were right: fewer rows to sum).
        spi::execute(
            "DELETE FROM tenant.usage_by_table WHERE tenant_id = $1 AND relid = $2::regclass AND stripe <> 0",
            &[id.into(), table.relid.into()],
        )?;
        spi::execute(
            "INSERT INTO tenant.usage_by_table (tenant_id, relid, row_count, bytes) VALUES ($1, $2::regclass, $3, $4)
             ON CONFLICT (tenant_id, relid, stripe) DO UPDATE SET row_count = EXCLUDED.row_count, bytes = EXCLUDED.bytes",
            &[id.into(), table.relid.into(), rows.into(), bytes.into()],
        )?;
        if rows != recorded_rows {
            out.push(correction("rows", Some(&table.name), recorded_rows, rows));
        }
        if bytes != recorded_bytes {
            out.push(correction(
                "bytes",
                Some(&table.name),
                recorded_bytes,
                bytes,
            ));
        }
    }
    // Counters of partitions that count on a counted ancestor (kept from
    // before they did): their rows are in the ancestor's.
    let stray = spi::three::<String, i64, i64>(
        "WITH gone AS (DELETE FROM tenant.usage_by_table u WHERE u.tenant_id = $1
                          AND u.relid::oid = ANY ($2) RETURNING u.relid, u.row_count, u.bytes)
         SELECT string_agg(DISTINCT relid::regclass::text, ', '), sum(row_count)::bigint, sum(bytes)::bigint FROM gone",
        &[id.into(), mapped.to_vec().into()],
    )?;
    if let Some((Some(names), Some(rows), Some(bytes))) = stray {
        if rows != 0 {
            out.push(correction("rows", Some(&names), rows, 0));
        }
        if bytes != 0 {
            out.push(correction("bytes", Some(&names), bytes, 0));
        }
    }
    let members = spi::one::<i64>(
        "SELECT count(*) FROM tenant.members WHERE tenant_id = $1",
        &[id.into()],
    )?
    .unwrap_or(0);
    if (members, storage) != (recorded_members, recorded_storage) || stripes > 1 {
        spi::execute(
            "DELETE FROM tenant.usage_totals WHERE tenant_id = $1 AND stripe <> 0",
            &[id.into()],
        )?;
        spi::execute(
            "UPDATE tenant.usage_totals SET members = $2, storage_bytes = $3 WHERE tenant_id = $1 AND stripe = 0",
            &[id.into(), members.into(), storage.into()],
        )?;
    }
    // Done with this tenant: its writers may go on (they wait for its
    // counter rows, locked to the end of the transaction, where they need
    // them).
    escrow::admit_writers();
    if members != recorded_members {
        out.push(correction("members", None, recorded_members, members));
    }
    if storage != recorded_storage {
        out.push(correction("storage_bytes", None, recorded_storage, storage));
    }
    Ok(out)
}

/// The tenant's rows and bytes in a counted table and the tables below it,
/// counted from the tables themselves, each as its owner
/// (`usage::Tree::totals`): whatever user code reading them runs never gets
/// the registry owner's rights.
fn count_rows(table: &CountedTable, tenant: Uuid, schema: &str) -> Result<(i64, i64)> {
    Ok(table
        .tree
        .totals(schema, Some(tenant))?
        .into_iter()
        .map(|(_, rows, bytes)| (rows, bytes))
        .next()
        .unwrap_or((0, 0)))
}

/// `tenant_storage_used(t)`: the tenant's bytes across the tables that count
/// usage, as the counters hold them (no scan).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_storage_used(t: Option<&str>) -> Result<i64> {
    let tenant = authz::authorize_session(t, "tenant_storage_used", "reading storage usage")?;
    Ok(identity::as_registry_owner(|| {
        spi::one::<i64>(
            "SELECT sum(storage_bytes)::bigint FROM tenant.usage_totals WHERE tenant_id = $1",
            &[tenant.id.into()],
        )
    })?
    .unwrap_or(0))
}
