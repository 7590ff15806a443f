//! Who may manage a tenant.
//!
//! - Operators: superusers and members of the role `tenant_admin` may manage
//!   every tenant. The lifecycle functions are granted to `tenant_admin` only.
//! - A tenant's own users: an application acting for a tenant
//!   (`app.current_tenant`) on behalf of a user (`app.current_user_id`) whose
//!   role in `tenant.members` is high enough may manage that tenant's members,
//!   domains and settings. Like the tenant itself, the user id is supplied by
//!   the application, which the database trusts to set it.
//!
//! Authorization comes before anything else is looked up. A caller who is
//! not an operator can only ever act on the session's current tenant, so a
//! reference to any other tenant is refused without being looked up: the
//! refusal is the same whether that tenant exists, is suspended or deleted,
//! and whoever its members are. Nothing about other tenants (their id,
//! status, existence, members or roles) can be learnt from the answers.

use super::current;
use crate::error::{self, Result};
use crate::registry::roles::{self, Role};
use crate::registry::tenants::{self, Tenant};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::Uuid;

const ROLE_HINT: &str = "Operators: GRANT tenant_admin TO <role>. Applications: set app.current_tenant to the tenant and app.current_user_id to a user whose role in tenant.members is high enough.";
const SESSION_HINT: &str = "Operators: GRANT tenant_admin TO <role>. Applications: set app.current_tenant to the tenant first.";

/// Who is calling, captured before any identity switch: inside
/// `db::as_registry_owner` the current role is the registry owner.
pub struct Caller {
    operator: bool,
    tenant_role: Option<Role>,
}

impl Caller {
    /// Allows operators, and users of `tenant` whose role is at least
    /// `min_role`. Only for a tenant `authorize` returned: the message names
    /// it, which for a caller who is not an operator is its own tenant.
    pub fn require(&self, tenant: &Tenant, min_role: Role, action: &str) -> Result<()> {
        if self.operator || self.tenant_role.is_some_and(|role| role >= min_role) {
            return Ok(());
        }
        Err(error::insufficient_privilege(
            format!(
                "{action} for tenant {} needs the role tenant_admin, or a user of that tenant with role {} or higher",
                tenant.label(),
                min_role.as_str()
            ),
            ROLE_HINT,
        ))
    }
}

pub use crate::registry::roles::is_operator;

/// The tenant that `t` names, for a caller allowed to manage it at
/// `min_role`, with who the caller is.
///
/// - NULL `t`: 22004 naming `function`.
/// - Operators: any tenant, whatever its status (P0002 for an unknown one).
/// - Anyone else: `t` must name the session's current tenant and the acting
///   user must hold at least `min_role` there. Otherwise 42501, and when `t`
///   is not the current tenant one and the same 42501 whatever `t` names
///   (another tenant, a suspended or deleted one, nothing at all): it echoes
///   `t` as given and nothing that was looked up.
pub fn authorize(
    t: Option<&str>,
    function: &str,
    min_role: Role,
    action: &str,
) -> Result<(Tenant, Caller)> {
    let reference = t.ok_or_else(|| error::null_argument(function, "t"))?;
    if is_operator() {
        let caller = Caller {
            operator: true,
            tenant_role: None,
        };
        return Ok((tenants::find(Some(reference), function)?, caller));
    }
    let Some(tenant) = current_if_named(reference)? else {
        return Err(role_refusal(action, reference, min_role));
    };
    let caller = Caller {
        operator: false,
        tenant_role: acting_role(tenant.id)?,
    };
    caller.require(&tenant, min_role, action)?;
    Ok((tenant, caller))
}

/// The session's current tenant, for a caller allowed to manage it at
/// `min_role` (functions that name no tenant, such as the domain functions,
/// whose domain is then looked up in this tenant only). Operators get None:
/// they may act on any tenant. 42501 when no tenant is in context or the
/// acting user's role there is too low.
pub fn authorize_current(min_role: Role, action: &str) -> Result<Option<Tenant>> {
    if is_operator() {
        return Ok(None);
    }
    let Some(tenant) = current()? else {
        return Err(error::insufficient_privilege(
            format!(
                "{action} needs the role tenant_admin, or a session acting for a tenant (app.current_tenant) as a user of that tenant with role {} or higher",
                min_role.as_str()
            ),
            ROLE_HINT,
        ));
    };
    let caller = Caller {
        operator: false,
        tenant_role: acting_role(tenant.id)?,
    };
    caller.require(&tenant, min_role, action)?;
    Ok(Some(tenant))
}

/// The tenant that `t` names, for reading figures that are not rows under
/// RLS (usage): operators any tenant (P0002 for an unknown one), anyone else
/// only the session's current tenant (one 42501 for any other reference,
/// as for `authorize`).
pub fn authorize_session(t: Option<&str>, function: &str, action: &str) -> Result<Tenant> {
    let reference = t.ok_or_else(|| error::null_argument(function, "t"))?;
    if is_operator() {
        return tenants::find(Some(reference), function);
    }
    current_if_named(reference)?.ok_or_else(|| {
        error::insufficient_privilege(
            format!(
                "{action} for tenant \"{}\" needs the role tenant_admin, or a session acting for that tenant",
                error::shorten(reference)
            ),
            SESSION_HINT,
        )
    })
}

/// The tenant a read function shows the rows of: for operators the tenant
/// `t` names (P0002 for an unknown one); for anyone else the session's
/// current tenant when `t` names it, else None: RLS hides every other
/// tenant's rows anyway, and the answer (no rows) is the same whether that
/// tenant exists or not. NULL `t` is 22004.
pub fn visible(t: Option<&str>, function: &str) -> Result<Option<Tenant>> {
    let reference = t.ok_or_else(|| error::null_argument(function, "t"))?;
    if is_operator() {
        return tenants::find(Some(reference), function).map(Some);
    }
    current_if_named(reference)
}

/// The 42501 of a caller who is not an operator and named a tenant that is
/// not its current one: built from the reference as given, nothing else.
fn role_refusal(action: &str, reference: &str, min_role: Role) -> ErrorReport {
    error::insufficient_privilege(
        format!(
            "{action} for tenant \"{}\" needs the role tenant_admin, or a user of that tenant with role {} or higher",
            error::shorten(reference),
            min_role.as_str()
        ),
        ROLE_HINT,
    )
}

/// The session's current tenant (checked active by `context`), or None.
fn current() -> Result<Option<Tenant>> {
    let Some(id) = current::tenant()? else {
        return Ok(None);
    };
    Ok(tenants::record(id)?.map(|record| Tenant {
        id,
        slug: record.slug.clone(),
        status: record.status,
    }))
}

/// The session's current tenant when `reference` names it (by id, or by
/// slug as `tenants::find` matches it), else None. Reads nothing but the
/// current tenant's own record.
fn current_if_named(reference: &str) -> Result<Option<Tenant>> {
    let Some(tenant) = current()? else {
        return Ok(None);
    };
    Ok(names(reference, &tenant.id, &tenant.slug).then_some(tenant))
}

/// Whether a tenant reference (a UUID or a slug) names the tenant `id` with
/// slug `slug`.
fn names(reference: &str, id: &Uuid, slug: &str) -> bool {
    match tenants::parse_uuid(reference) {
        Some(given) => given == *id,
        None => reference.to_ascii_lowercase() == slug,
    }
}

/// The role the session's application user holds in `tenant` (the
/// session's current tenant).
fn acting_role(tenant: Uuid) -> Result<Option<Role>> {
    match current::user()? {
        Some(user) => roles::role_of(tenant, user),
        None => Ok(None),
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    fn id() -> Uuid {
        tenants::parse_uuid("aaaaaaaa-0000-4000-8000-000000000001").unwrap()
    }

    #[test]
    fn a_reference_names_a_tenant_by_id_in_any_uuid_form_or_by_slug() {
        let id = id();
        for reference in [
            "aaaaaaaa-0000-4000-8000-000000000001",
            "AAAAAAAA-0000-4000-8000-000000000001",
            "aaaaaaaa000040008000000000000001",
            "acme-corp",
            "ACME-Corp",
        ] {
            assert!(names(reference, &id, "acme-corp"), "{reference}");
        }
        for reference in [
            "bbbbbbbb-0000-4000-8000-000000000002",
            "acme",
            "acme-corp ",
            "",
            // one digit short of the id: a slug, and not this one
            "aaaaaaaa-0000-4000-8000-00000000000",
        ] {
            assert!(!names(reference, &id, "acme-corp"), "{reference}");
        }
    }

    #[test]
    fn the_refusal_of_another_tenant_says_only_what_the_caller_typed() {
        // Built from the reference and the action alone: the same text for
        // a tenant that exists, one that is deleted and one that does not.
        let refusal = |reference: &str| {
            role_refusal("removing a member", reference, Role::Admin)
                .message()
                .to_string()
        };
        assert_eq!(
            refusal("bravo"),
            "pg_tenant: removing a member for tenant \"bravo\" needs the role tenant_admin, or a user of that tenant with role admin or higher"
        );
        assert!(refusal(&"x".repeat(100_000)).len() < 300);
    }
}
