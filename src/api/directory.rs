//! `tenant.directory`: the registry's tenants as Better Tenant's `tenants`
//! table shows them (`id, name, slug, created_at`), so that an app written
//! for Better Tenant reads and writes pg_tenant's registry, the one source of
//! truth (README, "Better Tenant"; docs/better-tenant.md). The view is in
//! `sql/finalize.sql`; this module decides what it shows and carries out what
//! is written to it.
//!
//! Who sees which rows (`_tenant_directory_lists_all`): every session sees its
//! current tenant's row; the whole directory (tenants not deleted) is listed
//! for operators (tenant_admin), and, in Better Tenant's system scope
//! (`app.bypass_rls` set), for members of `tenant_bypass` or of
//! `tenant_directory` (a role that may look tenants up by slug and nothing
//! else: it reads no tenant's data). An ordinary role sees what it sees in
//! tenant.tenants today: its current tenant.
//!
//! Writes (INSERT, UPDATE of name and slug, DELETE) are for operators only
//! and go through `tenant_create`, a rename, and `tenant_delete` (a soft
//! delete: the row leaves the directory, the data stays until purged).

use crate::enforce::current;
use crate::error::{self, Result};
use crate::registry::{roles, tenants};
use crate::store::{identity, spi};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;

/// Whether this session lists the whole directory (see the module comment).
/// Called once per statement by the view (`(SELECT ...)`).
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _tenant_directory_lists_all() -> Result<bool> {
    if roles::is_operator() {
        return Ok(true);
    }
    if !current::bypass_requested()? {
        return Ok(false);
    }
    Ok(roles::has_bypass_role() || has_directory_role())
}

/// Whether the current role has the privileges of `tenant_directory`.
fn has_directory_role() -> bool {
    // SAFETY: catalog lookups of the current role.
    unsafe {
        let role = pg_sys::get_role_oid(c"tenant_directory".as_ptr(), true);
        role != pg_sys::InvalidOid && pg_sys::has_privs_of_role(pg_sys::GetUserId(), role)
    }
}

// INSTEAD OF INSERT OR UPDATE OR DELETE ... FOR EACH ROW on tenant.directory.
crate::trigger_function!(
    _tenant_directory_write,
    pg_finfo__tenant_directory_write,
    write_row
);

fn write_row<'a>(
    trigger: &'a PgTrigger<'a>,
) -> std::result::Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, ErrorReport> {
    let event = trigger.event();
    let verb = if event.fired_by_insert() {
        "create"
    } else if event.fired_by_update() {
        "rename"
    } else {
        "delete"
    };
    if !roles::is_operator() {
        return Err(error::insufficient_privilege(
            format!("tenant.directory: only operators (members of tenant_admin) may {verb} tenants"),
            "Run Better Tenant's tenant.api writes (createTenant, updateTenant, deleteTenant) from a role granted tenant_admin, or call tenant_create / tenant_delete as one.",
        ));
    }
    if event.fired_by_insert() {
        let row = trigger.new().ok_or_else(misuse)?;
        let id = create(&row)?;
        returned(trigger, row, id).map(Some)
    } else if event.fired_by_update() {
        let (old, new) = (
            trigger.old().ok_or_else(misuse)?,
            trigger.new().ok_or_else(misuse)?,
        );
        let id = rename(&old, &new)?;
        returned(trigger, new, id).map(Some)
    } else {
        let old = trigger.old().ok_or_else(misuse)?;
        let id = column::<Uuid>(&old, "id")?.ok_or_else(misuse)?;
        crate::api::lifecycle::delete(Some(&id.to_string()))?;
        Ok(Some(old))
    }
}

/// INSERT: `tenant_create(name, slug, id => id)`; a NULL id (the column's
/// DEFAULT, as Drizzle sends it) draws a new one. `created_at` is the
/// registry's.
fn create(row: &PgHeapTuple<'_, AllocatedByPostgres>) -> Result<Uuid> {
    let name = column::<String>(row, "name")?;
    let slug = column::<String>(row, "slug")?;
    let id = column::<Uuid>(row, "id")?;
    crate::api::tenants::create(name.as_deref(), slug.as_deref(), None, None, id)
}

/// UPDATE: a new name and/or slug (the slug checked as `tenant_create`
/// checks one); the id and `created_at` cannot change.
fn rename(
    old: &PgHeapTuple<'_, AllocatedByPostgres>,
    new: &PgHeapTuple<'_, AllocatedByPostgres>,
) -> Result<Uuid> {
    let id = column::<Uuid>(old, "id")?.ok_or_else(misuse)?;
    if column::<Uuid>(new, "id")? != Some(id) {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("tenant.directory: the id of tenant {id} cannot change"),
            "A tenant's id is what its rows name; create a new tenant instead.",
        ));
    }
    // Locked first, as the lifecycle functions lock it: a concurrent
    // tenant_delete cannot commit between the check and the rename.
    let tenant = crate::api::lifecycle::locked(Some(&id.to_string()), "tenant.directory")?;
    tenant.refuse_if_deleted("rename")?;
    let name = column::<String>(new, "name")?
        .ok_or_else(|| error::null_argument("tenant.directory", "name"))?;
    if name.trim().is_empty() {
        return Err(error::invalid_parameter(
            "tenant.directory: name must not be empty",
            "Give the tenant a display name.",
        ));
    }
    let slug = column::<String>(new, "slug")?
        .ok_or_else(|| error::null_argument("tenant.directory", "slug"))?;
    let slug = if slug == tenant.slug {
        slug
    } else {
        tenants::checked_new_slug(&slug)?
    };
    identity::as_registry_owner(|| {
        spi::execute(
            "UPDATE tenant.tenants SET name = $2, slug = $3, updated_at = now() WHERE id = $1",
            &[id.into(), name.as_str().into(), slug.as_str().into()],
        )
    })?;
    Ok(id)
}

/// The row RETURNING shows: the one written, with the registry's id, name,
/// slug and `created_at`.
fn returned<'a>(
    trigger: &'a PgTrigger<'a>,
    row: PgHeapTuple<'a, AllocatedByPostgres>,
    id: Uuid,
) -> std::result::Result<PgHeapTuple<'a, AllocatedByPostgres>, ErrorReport> {
    let (name, slug, created_at) = identity::as_registry_owner(|| {
        spi::three::<String, String, pgrx::datum::TimestampWithTimeZone>(
            "SELECT name, slug, created_at FROM tenant.tenants WHERE id = $1",
            &[id.into()],
        )
    })?
    .ok_or_else(|| error::unknown_tenant(&id.to_string()))?;
    let mut row = row.into_owned();
    put(&mut row, "id", Some(id))?;
    put(&mut row, "name", name)?;
    put(&mut row, "slug", slug)?;
    put(&mut row, "created_at", created_at)?;
    // SAFETY: the view's row type describes the tuple, which lives in the
    // trigger's memory context until Postgres has used it.
    Ok(unsafe {
        PgHeapTuple::from_heap_tuple(
            pgrx::PgTupleDesc::from_pg_unchecked((*trigger.trigger_data().tg_relation).rd_att),
            row.into_pg(),
        )
    })
}

fn put<T: IntoDatum>(
    row: &mut PgHeapTuple<'_, pgrx::AllocatedByRust>,
    name: &str,
    value: Option<T>,
) -> Result<()> {
    row.set_by_name(name, value).map_err(|e| {
        error::bug(format!(
            "tenant.directory: cannot set {name} of the returned row: {e}"
        ))
    })
}

fn column<T>(row: &PgHeapTuple<'_, AllocatedByPostgres>, name: &str) -> Result<Option<T>>
where
    T: FromDatum + IntoDatum + 'static,
    for<'t> T: pgrx::datum::UnboxDatum<As<'t> = T>,
{
    row.get_by_name::<T>(name)
        .map_err(|e| error::bug(format!("tenant.directory: column {name}: {e}")))
}

fn misuse() -> ErrorReport {
    error::bug(
        "_tenant_directory_write() runs as the INSTEAD OF row trigger of tenant.directory only",
    )
}
