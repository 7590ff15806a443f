//! The tenant, user and bypass request this transaction acts for, as
//! enforcement needs them: the session's setting (`session::settings`,
//! already refused when it outlives the transaction) checked against the
//! registry, so an unknown, suspended or deleted tenant raises its own
//! SQLSTATE (PT011, PT012, PT013) instead of silently showing (or hiding) rows.

use crate::error::{self, Refusal, Result};
use crate::registry::roles;
use crate::registry::tenants::{self, TenantStatus};
use crate::session::{epoch, settings, source, token};
use pgrx::Uuid;

/// The tenant of this transaction, found active, with its governors put in
/// force (`governor`). Once found active it is not looked up again until
/// the setting or the registry epoch changes: a transaction's statements
/// and its rows' triggers read it several times.
#[inline]
pub fn tenant() -> Result<Option<Uuid>> {
    let id = accepted_tenant()?;
    if let Some(id) = id {
        super::governor::apply(id)?;
    }
    Ok(id)
}

/// The tenant of this transaction, found active (without its governors).
#[inline]
pub fn accepted_tenant() -> Result<Option<Uuid>> {
    let Some(named) = source::tenant()? else {
        return Ok(None);
    };
    let id = named.id;
    if token::token_required() || (source::proxy_setting().is_some() && !named.from_claims) {
        refuse_unproven(&named, token::token_tenant())?;
    }
    if !named.verified {
        // The mark counts for the epoch the check started in: a check whose
        // read met a registry change leaves it unmarked (checked again).
        let read_at = epoch::current();
        if tenants::cached_status(&id) != Some(TenantStatus::Active) {
            require_active_in(id, named.setting)?;
        }
        if epoch::current() == read_at && epoch::may_remember() {
            source::mark_verified(&id);
        }
    }
    Ok(Some(id))
}

/// With `pg_tenant.require_token = on`, the tenant (or user) must be the one
/// this transaction's verified token named (`tenant_set_token`), unless the
/// role is an operator: one named with set_config or tenant_set (perhaps by
/// an injected statement) is refused (PT002). The operator is the session's
/// role, not the owner of a SECURITY DEFINER function running meanwhile.
///
/// Beside a proxy source (`pg_tenant.context_source`) the proxy's claims name
/// the tenant: `app.current_tenant` alone is accepted only when a token named
/// it, or for an operator (PT005 otherwise). A tenant stored for the role the
/// proxy switches to (`ALTER ROLE web_user SET app.current_tenant`, which an
/// injected statement can do and PostgREST re-applies to every request as a
/// transaction-local value) would otherwise act for every request without a
/// tenant claim.
fn refuse_unproven(named: &source::Named, token_named: Option<[u8; 16]>) -> Result<()> {
    if token_named == Some(*named.id.as_bytes()) || roles::outer_role_is_operator() {
        return Ok(());
    }
    if token::token_required() {
        return Err(unproven(named));
    }
    let proxy = source::proxy_setting().unwrap_or("the proxy");
    Err(error::refusal(
        Refusal::ContextConflict,
        format!(
            "{} is not accepted beside pg_tenant.context_source: the claims in {proxy} name the {}",
            named.setting,
            if named.setting == "app.current_user_id" { "user" } else { "tenant" }
        ),
        format!("Let the proxy's token carry the claim, or name the tenant with tenant_set_token($1); a value stored for a role (ALTER ROLE ... SET {}) is refused too.", named.setting),
    ))
}

fn unproven(named: &source::Named) -> pgrx::pg_sys::panic::ErrorReport {
    let message = if named.from_claims {
        format!("the {} named in {} was not named by tenant_set_token in this transaction, and pg_tenant.require_token is on",
            if named.setting == "app.current_user_id" { "user" } else { "tenant or user" }, named.setting)
    } else {
        format!("{} was not set by tenant_set_token in this transaction, and pg_tenant.require_token is on", named.setting)
    };
    error::refusal(
        Refusal::NotProven,
        message,
        "Name the tenant with SELECT tenant_set_token($1) at the start of each transaction, the token passed as a parameter.",
    )
}

/// The tenant exists and is active, or the error that says which it is not.
pub fn require_active(id: Uuid) -> Result<()> {
    require_active_in(id, "app.current_tenant")
}

/// The same, naming the setting the tenant was read from.
fn require_active_in(id: Uuid, setting: &str) -> Result<()> {
    match tenants::record(id)?.as_deref() {
        None => Err(error::refusal(
            Refusal::UnknownTenant,
            format!("tenant {id} named in {setting} does not exist"),
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

/// The acting application user (`app.current_user_id` or the proxy's user
/// claim), or None. With `pg_tenant.require_token = on` it must be the user
/// this transaction's verified token named (its `sub`), and beside a proxy
/// source `app.current_user_id` alone only when a token named it, as for the
/// tenant.
pub fn user() -> Result<Option<Uuid>> {
    let Some(named) = source::user()? else {
        return Ok(None);
    };
    if token::token_required() || (source::proxy_setting().is_some() && !named.from_claims) {
        refuse_unproven(&named, token::token_user())?;
    }
    Ok(Some(named.id))
}

/// Whether the transaction asked for cross-tenant access (`app.bypass_rls`).
pub fn bypass_requested() -> Result<bool> {
    settings::bypass_requested()
}
