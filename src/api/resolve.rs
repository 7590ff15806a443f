//! Request resolution: which tenant a request is for, as a proxy or an
//! application decides it, and `tenant_set` to put it in the session context.

use super::domains;
use crate::enforce::current;
use crate::error::{self, Refusal, Result};
use crate::registry::tenants::{self, TenantStatus};
use crate::store::{identity, spi};
use pgrx::prelude::*;
use pgrx::Uuid;

/// A request's Host header as a domain: lower case, no port, no trailing dot.
/// None when it is not a host name at all.
fn host_domain(host: &str) -> Option<String> {
    let without_port = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    domains::canonical_domain(without_port).ok()
}

/// The single label in front of `base` in `host` (`acme` for acme.example.com
/// under example.com), if there is exactly one.
fn subdomain_label(host: &str, base: &str) -> Option<String> {
    let label = host.strip_suffix(base)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_string())
}

fn active_by_id(id: Uuid) -> Result<Option<Uuid>> {
    spi::one::<Uuid>(
        "SELECT id FROM tenant.tenants WHERE id = $1 AND status = 'active'",
        &[id.into()],
    )
}

fn active_by_slug(slug: &str) -> Result<Option<Uuid>> {
    spi::one::<Uuid>(
        "SELECT id FROM tenant.tenants WHERE slug = lower($1) AND status = 'active'",
        &[slug.into()],
    )
}

fn active_by_verified_domain(domain: &str) -> Result<Option<Uuid>> {
    spi::one::<Uuid>(
        "SELECT t.id FROM tenant.domains d JOIN tenant.tenants t ON t.id = d.tenant_id
          WHERE d.domain = $1 AND d.verified_at IS NOT NULL AND t.status = 'active'",
        &[domain.into()],
    )
}

/// `tenant_resolve(id, slug, host, base_domain)`: the active tenant a request
/// names, trying in this order an explicit id, a slug, a verified custom
/// domain equal to `host` (unless `host` is under `base_domain`), and `host`
/// as `<slug>.<base_domain>`. NULL when
/// nothing matches. Inputs come from requests, so malformed ones simply do
/// not match. Reads the registry as its owner: any role may resolve, without
/// being able to read other tenants' registry rows.
#[pg_extern(stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_resolve(
    id: default!(Option<&str>, "NULL"),
    slug: default!(Option<&str>, "NULL"),
    host: default!(Option<&str>, "NULL"),
    base_domain: default!(Option<&str>, "NULL"),
) -> Result<Option<Uuid>> {
    let host = host.and_then(host_domain);
    let base = base_domain.and_then(|b| domains::canonical_domain(b).ok());
    identity::as_registry_owner(|| {
        if let Some(found) = id
            .and_then(tenants::parse_uuid)
            .map(active_by_id)
            .transpose()?
            .flatten()
        {
            return Ok(Some(found));
        }
        if let Some(found) = slug.map(active_by_slug).transpose()?.flatten() {
            return Ok(Some(found));
        }
        if let Some(host) = &host {
            // A host under the platform's base domain is a subdomain of the
            // platform, never a tenant's custom domain: otherwise a tenant
            // that registers and verifies "acme.<base>" would take acme's
            // requests (verification proves only that the caller holds the
            // token it was given).
            let under_base = base
                .as_deref()
                .is_some_and(|base| host == base || host.ends_with(&format!(".{base}")));
            if !under_base {
                if let Some(found) = active_by_verified_domain(host)? {
                    return Ok(Some(found));
                }
            }
            if let Some(label) = base.as_deref().and_then(|base| subdomain_label(host, base)) {
                return active_by_slug(&label);
            }
        }
        Ok(None)
    })
}

/// `tenant_set(t text)`: sets `app.current_tenant` to tenant `t` (id or
/// slug) for the current transaction and returns its id. Unknown tenants
/// raise PT011, suspended ones PT012, deleted ones PT013.
#[pg_extern(volatile, parallel_unsafe)]
fn tenant_set(t: Option<&str>) -> Result<Uuid> {
    let reference = t.ok_or_else(|| error::null_argument("tenant_set", "t"))?;
    let tenant =
        tenants::lookup(reference)?.ok_or_else(|| error::unknown_tenant_to_act_for(reference))?;
    set_tenant(tenant)
}

/// `tenant_set(t uuid)`: the same for a tenant id passed as a uuid, as
/// drivers send a native UUID parameter (set_config takes text only).
#[pg_extern(volatile, parallel_unsafe, name = "tenant_set")]
fn tenant_set_uuid(t: Option<Uuid>) -> Result<Uuid> {
    let id = t.ok_or_else(|| error::null_argument("tenant_set", "t"))?;
    tenant_set(Some(&id.to_string()))
}

fn set_tenant(tenant: tenants::Tenant) -> Result<Uuid> {
    if tenant.status != TenantStatus::Active {
        return Err(error::refusal(
            match tenant.status {
                TenantStatus::Suspended => Refusal::Suspended,
                _ => Refusal::Deleted,
            },
            format!(
                "tenant {} is {}; it cannot be set",
                tenant.label(),
                tenant.status.as_str()
            ),
            "Only active tenants can be named in app.current_tenant.",
        ));
    }
    spi::execute(
        "SELECT pg_catalog.set_config('app.current_tenant', $1, true)",
        &[tenant.id.to_string().into()],
    )?;
    current::tenant()?;
    Ok(tenant.id)
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn hosts_lose_ports_and_case() {
        assert_eq!(
            host_domain("Acme.Example.com:8443").as_deref(),
            Some("acme.example.com")
        );
        assert_eq!(host_domain("example.com.").as_deref(), Some("example.com"));
        assert_eq!(host_domain("https://example.com"), None);
        assert_eq!(host_domain("example.com:"), None);
    }

    #[test]
    fn only_one_label_is_a_subdomain() {
        assert_eq!(
            subdomain_label("acme.example.com", "example.com").as_deref(),
            Some("acme")
        );
        assert_eq!(subdomain_label("a.b.example.com", "example.com"), None);
        assert_eq!(subdomain_label("example.com", "example.com"), None);
        assert_eq!(subdomain_label("notexample.com", "example.com"), None);
    }
}
