//! Tenant members (`tenant.members`): the application's users of each tenant
//! with a role, managed by operators or the tenant's own admins.

use crate::enforce::{authz, current, usage};
use crate::error::{self, Result};
use crate::registry::roles::Role;
use crate::registry::tenants::Tenant;
use crate::store::{identity, spi};
use pgrx::prelude::*;
use pgrx::Uuid;

/// `tenant_user_role(t, user_id)`: the user's role in the tenant, or NULL.
/// Reads tenant.members as the caller, so RLS decides what is visible: an
/// application sees its current tenant's members, operators every tenant's.
/// For an application, a reference to any other tenant (existing or not)
/// shows nothing, as RLS would (see `authz::visible`).
#[pg_extern(stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_user_role(t: Option<&str>, user_id: Option<Uuid>) -> Result<Option<String>> {
    let tenant = authz::visible(t, "tenant_user_role")?;
    let user = user_id.ok_or_else(|| error::null_argument("tenant_user_role", "user_id"))?;
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    spi::one::<String>(
        "SELECT role FROM tenant.members WHERE tenant_id = $1 AND user_id = $2",
        &[tenant.id.into(), user.into()],
    )
}

/// `tenant_is_member(t, user_id)`: whether the user belongs to the tenant
/// (visibility as for `tenant_user_role`).
#[pg_extern(stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_is_member(t: Option<&str>, user_id: Option<Uuid>) -> Result<bool> {
    Ok(tenant_user_role(t, user_id)?.is_some())
}

/// `tenant_members(t)`: the tenant's members (visibility as for `tenant_user_role`).
// pgrx must see `TableIterator` itself in the signature (an alias hides it).
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_members(
    t: Option<&str>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(user_id, Option<Uuid>),
            name!(role, Option<String>),
            name!(joined_at, Option<pgrx::datum::TimestampWithTimeZone>),
            name!(invited_by, Option<Uuid>),
        ),
    >,
> {
    let Some(tenant) = authz::visible(t, "tenant_members")? else {
        return Ok(TableIterator::new(Vec::new()));
    };
    let rows = Spi::connect(|client| {
        let mut rows = Vec::new();
        let table = client.select(
            "SELECT user_id, role, joined_at, invited_by FROM tenant.members
              WHERE tenant_id = $1
              ORDER BY array_position(ARRAY['owner', 'admin', 'member', 'guest'], role), joined_at, user_id",
            None,
            &[tenant.id.into()],
        )?;
        for row in table {
            rows.push((row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?));
        }
        Ok(rows)
    })
    .map_err(error::internal)?;
    Ok(TableIterator::new(rows))
}

/// Managing owners takes an owner; everything else an admin.
fn required_role(roles: &[Option<Role>]) -> Role {
    if roles.contains(&Some(Role::Owner)) {
        Role::Owner
    } else {
        Role::Admin
    }
}

/// `tenant_member_add(t, user_id, role default 'member')`.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_member_add(
    t: Option<&str>,
    user_id: Option<Uuid>,
    role: default!(Option<&str>, "'member'"),
) -> Result<()> {
    let action = "adding a member";
    let (tenant, caller) = authz::authorize(t, "tenant_member_add", Role::Admin, action)?;
    let user = user_id.ok_or_else(|| error::null_argument("tenant_member_add", "user_id"))?;
    let role = Role::parse(role, "role")?;
    caller.require(&tenant, required_role(&[Some(role)]), action)?;
    tenant.refuse_if_deleted("add a member")?;
    let invited_by = current::user()?;
    identity::as_registry_owner(|| {
        let added = spi::execute_one::<bool>(
            "INSERT INTO tenant.members (tenant_id, user_id, role, invited_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, user_id) DO NOTHING RETURNING true",
            &[tenant.id.into(), user.into(), role.as_str().into(), invited_by.into()],
        )?;
        if added.is_none() {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
                format!(
                    "user {user} is already a member of tenant {}",
                    tenant.label()
                ),
                "Change the role with tenant_member_set_role(t, user_id, role).",
            ));
        }
        usage::add_members(tenant.id, 1)
    })
}

/// `tenant_member_remove(t, user_id)`. The last owner cannot be removed.
///
/// The caller is authorized (as an admin of the tenant) before the member
/// rows are read or locked; only then does removing an owner take an owner.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_member_remove(t: Option<&str>, user_id: Option<Uuid>) -> Result<()> {
    let action = "removing a member";
    let (tenant, caller) = authz::authorize(t, "tenant_member_remove", Role::Admin, action)?;
    let user = user_id.ok_or_else(|| error::null_argument("tenant_member_remove", "user_id"))?;
    identity::as_registry_owner(|| {
        let current = locked_role(&tenant, user)?;
        caller.require(&tenant, required_role(&[Some(current)]), action)?;
        refuse_last_owner(&tenant, current, None, "removed")?;
        spi::execute(
            "DELETE FROM tenant.members WHERE tenant_id = $1 AND user_id = $2",
            &[tenant.id.into(), user.into()],
        )?;
        usage::add_members(tenant.id, -1)
    })
}

/// `tenant_member_set_role(t, user_id, role)`. The last owner cannot be demoted.
///
/// Authorized as `tenant_member_remove` is: as an admin of the tenant before
/// anything is read or locked, then as an owner when an owner is involved.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_member_set_role(
    t: Option<&str>,
    user_id: Option<Uuid>,
    role: Option<&str>,
) -> Result<()> {
    let action = "changing a member's role";
    let (tenant, caller) = authz::authorize(t, "tenant_member_set_role", Role::Admin, action)?;
    let user = user_id.ok_or_else(|| error::null_argument("tenant_member_set_role", "user_id"))?;
    let role = Role::parse(role, "role")?;
    tenant.refuse_if_deleted("change a member's role")?;
    identity::as_registry_owner(|| {
        let current = locked_role(&tenant, user)?;
        caller.require(&tenant, required_role(&[Some(current), Some(role)]), action)?;
        refuse_last_owner(&tenant, current, Some(role), "demoted")?;
        spi::execute(
            "UPDATE tenant.members SET role = $3 WHERE tenant_id = $1 AND user_id = $2",
            &[tenant.id.into(), user.into(), role.as_str().into()],
        )
    })
}

/// The member's role, with the tenant's member rows locked so that two
/// concurrent removals cannot both pass the last-owner check. Only for a
/// tenant the caller was authorized for: the P0002 names the tenant and
/// tells whether the user is a member.
fn locked_role(tenant: &Tenant, user: Uuid) -> Result<Role> {
    let roles = spi::execute_one::<Vec<String>>(
        "SELECT array_agg(role) FILTER (WHERE user_id = $2)
           FROM (SELECT user_id, role FROM tenant.members WHERE tenant_id = $1 FOR UPDATE) AS locked",
        &[tenant.id.into(), user.into()],
    )?;
    match roles.and_then(|r| r.into_iter().next()) {
        Some(role) => Role::parse(Some(&role), "role"),
        None => Err(error::report(
            PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
            format!("user {user} is not a member of tenant {}", tenant.label()),
            "List the members with tenant_members(t).",
        )),
    }
}

/// A tenant that has an owner keeps at least one.
fn refuse_last_owner(
    tenant: &Tenant,
    current: Role,
    new_role: Option<Role>,
    verb: &str,
) -> Result<()> {
    if current != Role::Owner || new_role == Some(Role::Owner) {
        return Ok(());
    }
    let owners = spi::one::<i64>(
        "SELECT count(*) FROM tenant.members WHERE tenant_id = $1 AND role = 'owner'",
        &[tenant.id.into()],
    )?
    .unwrap_or(0);
    if owners <= 1 {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            format!(
                "the last owner of tenant {} cannot be {verb}",
                tenant.label()
            ),
            "Make another member owner first: tenant_member_set_role(t, other_user, 'owner').",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod unit_tests {
    use super::*;
    use crate::registry::roles::Role;

    #[test]
    fn roles_are_ordered_owner_admin_member_guest() {
        assert!(
            Role::Owner > Role::Admin && Role::Admin > Role::Member && Role::Member > Role::Guest
        );
        assert_eq!(required_role(&[Some(Role::Member)]), Role::Admin);
        assert_eq!(
            required_role(&[Some(Role::Member), Some(Role::Owner)]),
            Role::Owner
        );
    }

    #[test]
    fn roles_parse_and_a_long_bad_role_is_shortened() {
        assert_eq!(Role::parse(Some("owner"), "role").unwrap(), Role::Owner);
        assert_eq!(Role::parse(Some("guest"), "role").unwrap(), Role::Guest);
        let huge = "x".repeat(100_000);
        let err = Role::parse(Some(&huge), "role").unwrap_err();
        assert!(err.message().len() < 200, "{}", err.message().len());
        assert!(err.message().ends_with("...\" is not a tenant role"));
        assert!(Role::parse(Some("Owner"), "role").is_err());
    }
}
