//! Who may manage a tenant.
//!
//! - Operators: superusers and members of the role `tenant_admin` may manage
//!   every tenant. The lifecycle functions are granted to `tenant_admin` only.
//! - A tenant's own users: an application acting for a tenant
//!   (`app.current_tenant`) on behalf of a user (`app.current_user_id`) whose
//!   role in `tenant.members` is high enough may manage that tenant's members,
//!   domains and settings. Like the tenant itself, the user id is supplied by
//!   the application, which the database trusts to set it.

use crate::context;
use crate::error::{self, Result};
use crate::members::{self, Role};
use crate::registry::Tenant;
use pgrx::pg_sys;

/// Who is calling, captured before any identity switch: inside
/// `db::as_registry_owner` the current role is the registry owner.
pub struct Caller {
    operator: bool,
    tenant_role: Option<Role>,
}

impl Caller {
    /// The calling role, and the role its application user holds in `tenant`
    /// when the session acts for that very tenant.
    pub fn of(tenant: &Tenant) -> Result<Caller> {
        Ok(Caller {
            operator: is_operator(),
            tenant_role: acting_role(tenant)?,
        })
    }

    /// Allows operators, and users of `tenant` whose role is at least `min_role`.
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
            "Operators: GRANT tenant_admin TO <role>. Applications: set app.current_tenant to the tenant and app.current_user_id to a user whose role in tenant.members is high enough.",
        ))
    }
}

/// Whether the current role is a superuser or has the privileges of tenant_admin.
fn is_operator() -> bool {
    unsafe {
        let user = pg_sys::GetUserId();
        if pg_sys::superuser_arg(user) {
            return true;
        }
        let admin = pg_sys::get_role_oid(c"tenant_admin".as_ptr(), true);
        admin != pg_sys::InvalidOid && pg_sys::has_privs_of_role(user, admin)
    }
}

/// The role the session's application user holds in `tenant`, when the
/// session acts for that very tenant.
fn acting_role(tenant: &Tenant) -> Result<Option<Role>> {
    if context::current_tenant()? != Some(tenant.id) {
        return Ok(None);
    }
    match context::current_user()? {
        Some(user) => members::role_of(tenant.id, user),
        None => Ok(None),
    }
}

/// Reading a tenant's usage: operators, and sessions acting for that tenant.
pub fn require_operator_or_current(tenant: &Tenant, action: &str) -> Result<()> {
    if is_operator() || context::current_tenant()? == Some(tenant.id) {
        return Ok(());
    }
    Err(error::insufficient_privilege(
        format!(
            "{action} for tenant {} needs the role tenant_admin, or a session acting for that tenant",
            tenant.label()
        ),
        "Operators: GRANT tenant_admin TO <role>. Applications: set app.current_tenant to the tenant first.",
    ))
}
