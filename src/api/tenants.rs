//! `tenant_create`: a new tenant in the registry, with its counters row and,
//! given an owner, its first member.

use crate::enforce::usage;
use crate::error::{self, Result};
use crate::registry::{limits, tenants};
use crate::store::{identity, spi};
use pgrx::prelude::*;
use pgrx::Uuid;

/// Creates an active tenant and returns its id. An `owner` also becomes the
/// tenant's first member, with role owner. `id` keeps a tenant's id from
/// another system (a Better Tenant `tenants` table whose ids the data's
/// `tenant_id` already holds); a new random one when NULL.
///
/// Granted to `tenant_admin` only. It writes the registry as the registry
/// owner (see `identity::as_registry_owner`), so operators need no table privileges.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_create(
    name: Option<&str>,
    slug: default!(Option<&str>, "NULL"),
    plan: default!(Option<&str>, "NULL"),
    owner: default!(Option<Uuid>, "NULL"),
    id: default!(Option<Uuid>, "NULL"),
) -> Result<Uuid> {
    create(name, slug, plan, owner, id)
}

/// `tenant_create`'s work, also for `tenant.directory`'s INSERT
/// (`api::directory`), whose caller has been checked to be an operator.
pub fn create(
    name: Option<&str>,
    slug: Option<&str>,
    plan: Option<&str>,
    owner: Option<Uuid>,
    id: Option<Uuid>,
) -> Result<Uuid> {
    let name = name.ok_or_else(|| error::null_argument("tenant_create", "name"))?;
    if name.trim().is_empty() {
        return Err(error::invalid_parameter(
            "tenant_create: name must not be empty",
            "Pass the tenant's display name, for example tenant_create('Acme Corp').",
        ));
    }
    if let Some(plan) = plan {
        limits::require_plan(plan, "tenant_create")?;
    }
    identity::as_registry_owner(|| {
        let slug = match slug {
            Some(given) => tenants::checked_new_slug(given)?,
            None => tenants::unique_slug(&tenants::slugify(name))?,
        };
        if let Some(id) = id {
            refuse_taken_id(id)?;
        }
        let id = spi::execute_one::<Uuid>(
            "INSERT INTO tenant.tenants (id, name, slug, plan, owner_id)
             VALUES (coalesce($5, pg_catalog.gen_random_uuid()), $1, $2, $3, $4) RETURNING id",
            &[
                name.into(),
                slug.as_str().into(),
                plan.into(),
                owner.into(),
                id.into(),
            ],
        )?
        .ok_or_else(|| error::internal(pgrx::spi::SpiError::InvalidPosition))?;
        // The usage counters' row: the lock every writer of the tenant takes.
        spi::execute(
            "INSERT INTO tenant.usage_totals (tenant_id) VALUES ($1)",
            &[id.into()],
        )?;
        if let Some(owner) = owner {
            spi::execute(
                "INSERT INTO tenant.members (tenant_id, user_id, role) VALUES ($1, $2, 'owner')",
                &[id.into(), owner.into()],
            )?;
            usage::add_members(id, 1)?;
        }
        Ok(id)
    })
}

/// 23505 for an id the registry already has (a deleted tenant's too: its
/// id stays taken until it is purged, and data may still name it).
fn refuse_taken_id(id: Uuid) -> Result<()> {
    let taken = spi::one::<bool>(
        "SELECT EXISTS (SELECT FROM tenant.tenants WHERE id = $1)",
        &[id.into()],
    )?
    .unwrap_or(false);
    if taken {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
            format!("tenant_create: a tenant with id {id} already exists"),
            "Leave id NULL for a new id; to import tenants from another system, create each one once.",
        ));
    }
    Ok(())
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// Creates a tenant with `args` and returns its (slug, plan, owner_id).
    fn create(args: &str) -> (Option<String>, Option<String>, Option<String>) {
        let id = Spi::get_one::<pgrx::Uuid>(&format!("SELECT tenant_create({args})"))
            .unwrap()
            .unwrap();
        Spi::get_three_with_args::<String, String, String>(
            "SELECT slug, plan, owner_id::text FROM tenant.tenants WHERE id = $1",
            &[id.into()],
        )
        .unwrap()
    }

    #[pg_test]
    fn tenant_create_derives_unique_slugs() {
        assert_eq!(create("'Acme Corp'").0.as_deref(), Some("acme-corp"));
        assert_eq!(create("'ACME  corp!'").0.as_deref(), Some("acme-corp-2"));
        assert_eq!(create("'Acme Corp'").0.as_deref(), Some("acme-corp-3"));
    }

    #[pg_test]
    fn tenant_create_keeps_plan_and_owner() {
        let row = create("'Initech', 'initech', 'pro', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'");
        assert_eq!(
            row,
            (
                Some("initech".into()),
                Some("pro".into()),
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())
            )
        );
    }

    #[pg_test(error = "pg_tenant: \"Bad Slug\" is not a valid tenant slug")]
    fn tenant_create_rejects_invalid_slug() {
        Spi::run("SELECT tenant_create('Bad', 'Bad Slug')").unwrap();
    }

    #[pg_test(error = "pg_tenant: a tenant with slug \"dup\" already exists")]
    fn tenant_create_rejects_duplicate_slug() {
        Spi::run("SELECT tenant_create('One', 'dup')").unwrap();
        Spi::run("SELECT tenant_create('Two', 'dup')").unwrap();
    }
}
