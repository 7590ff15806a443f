//! The tenant, user and bypass request this transaction acts for, as
//! enforcement needs them: the session's setting (`session::settings`,
//! already refused when it outlives the transaction) checked against the
//! registry, so an unknown, suspended or deleted tenant raises its own
//! SQLSTATE (PT011, PT012, PT013) instead of silently showing (or hiding) rows.

use crate::error::{self, Refusal, Result};
use crate::registry::roles;
use crate::registry::tenants::{self, TenantStatus};
use crate::session::{settings, source, token};
use pgrx::Uuid;

/// The tenant of this transaction, found active. Once found active it is
/// not looked up again until the setting or the registry epoch changes: a
/// transaction's statements and its rows' triggers read it several times.
#[inline]
pub fn tenant() -> Result<Option<Uuid>> {
    let Some((id, verified)) = source::tenant()? else {
        return Ok(None);
    };
    if token::token_required() {
        refuse_unproven(&id)?;
    }
    if !verified {
        if tenants::cached_status(&id) != Some(TenantStatus::Active) {
            require_active(id)?;
        }
        source::mark_verified(&id);
    }
    Ok(Some(id))
}

/// With `pg_tenant.require_token = on`, the tenant must be the one this
/// transaction's verified token named (`tenant_set_token`), unless the role
/// is an operator: a tenant named with set_config or tenant_set (perhaps by
/// an injected statement) is refused. The operator is the session's role,
/// not the owner of a SECURITY DEFINER function running meanwhile.
fn refuse_unproven(id: &Uuid) -> Result<()> {
    if token::token_tenant() == Some(*id.as_bytes()) || roles::outer_role_is_operator() {
        return Ok(());
    }
    Err(unproven("app.current_tenant"))
}

fn unproven(setting: &str) -> pgrx::pg_sys::panic::ErrorReport {
    error::refusal(
        Refusal::NotProven,
        format!("{setting} was not set by tenant_set_token in this transaction, and pg_tenant.require_token is on"),
        "Name the tenant with SELECT tenant_set_token($1) at the start of each transaction, the token passed as a parameter.",
    )
}

/// The tenant exists and is active, or the error that says which it is not.
pub fn require_active(id: Uuid) -> Result<()> {
    match tenants::record(id)?.as_deref() {
        None => Err(error::refusal(
            Refusal::UnknownTenant,
            format!("tenant {id} named in app.current_tenant does not exist"),
            "Set app.current_tenant to the id of an existing tenant (see tenant_create).",
        )),
        Some(tenant) if tenant.status != TenantStatus::Active => Err(error::refusal(
            match tenant.status {
                TenantStatus::Suspended => Refusal::Suspended,
                _ => Refusal::Deleted,
            },
            format!(
                "tenant \"{}\" ({id}) is {}; its data cannot be accessed",
                tenant.slug,
                tenant.status.as_str()
            ),
            match tenant.status {
                TenantStatus::Suspended => "No session may act for a suspended tenant until an administrator reactivates it.",
                _ => "A deleted tenant's data is kept only until it is purged; no session may act for it.",
            },
        )),
        Some(_) => Ok(()),
    }
}

/// The acting application user (`app.current_user_id`), or None.
/// With `pg_tenant.require_token = on`, it must be the user this
/// transaction's verified token named (its `sub`), as for the tenant.
pub fn user() -> Result<Option<Uuid>> {
    let user = source::user()?;
    if let Some(id) = &user {
        if token::token_required()
            && token::token_user() != Some(*id.as_bytes())
            && !roles::outer_role_is_operator()
        {
            return Err(unproven("app.current_user_id"));
        }
    }
    Ok(user)
}

/// Whether the transaction asked for cross-tenant access (`app.bypass_rls`).
pub fn bypass_requested() -> Result<bool> {
    settings::bypass_requested()
}
