//! Custom domains of tenants (`tenant.domains`): added with a verification
//! token, verified by proving the token, one primary per tenant. Only
//! verified domains resolve (see `resolve`).

use crate::enforce::authz;
use crate::error::{self, Result};
use crate::registry::roles::Role;
use crate::registry::tenants::{self, Tenant};
use crate::store::{identity, spi};
use pgrx::prelude::*;
use pgrx::Uuid;

/// Validates a domain name and returns its canonical form (lower case, no
/// trailing dot). The error says what is wrong with it (quoting a long input
/// shortened).
pub fn canonical_domain(input: &str) -> std::result::Result<String, String> {
    let problem = |what: &str| {
        Err(format!(
            "\"{}\" is not a valid domain: {what}",
            error::shorten(input)
        ))
    };
    if input.contains("://") {
        return problem("remove the scheme (https://)");
    }
    if input.chars().any(char::is_whitespace) {
        return problem("it contains spaces");
    }
    if input.contains('/') {
        return problem("remove the path");
    }
    if input.contains(':') {
        return problem("remove the port");
    }
    if !input.is_ascii() {
        return problem("use its ASCII (punycode, xn--...) form");
    }
    let domain = input.to_ascii_lowercase();
    let domain = domain.strip_suffix('.').unwrap_or(&domain);
    if domain.len() > 253 {
        return problem("longer than 253 characters");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return problem("it needs at least two labels, like example.com");
    }
    for label in &labels {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return problem("each label is 1 to 63 letters, digits or inner hyphens");
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return problem("an IP address is not a domain");
    }
    Ok(domain.to_string())
}

/// The canonical domain of an argument, or 22023 / 22004.
fn domain_argument(domain: Option<&str>, function: &str) -> Result<String> {
    let domain = domain.ok_or_else(|| error::null_argument(function, "domain"))?;
    canonical_domain(domain).map_err(|problem| {
        error::invalid_parameter(problem, "Pass a host name only, such as app.example.com.")
    })
}

/// The tenant whose registered domain the caller may manage, with the
/// domain's row locked (it cannot move to another tenant or go meanwhile).
///
/// Operators manage every tenant's domains: P0002 when the domain is not
/// registered at all. Anyone else must be an admin of the session's current
/// tenant (42501 first, before the domain is looked up), and the domain is
/// then looked up in that tenant only: one P0002 whether it is not
/// registered or registered to another tenant, which is never named.
fn managed_domain(domain: &str, action: &str) -> Result<Tenant> {
    match authz::authorize_current(Role::Admin, action)? {
        None => {
            let owner = identity::as_registry_owner(|| {
                spi::execute_one::<Uuid>(
                    "SELECT tenant_id FROM tenant.domains WHERE domain = $1 FOR UPDATE",
                    &[domain.into()],
                )
            })?;
            match owner {
                Some(id) => tenants::find(Some(&id.to_string()), "domain"),
                None => Err(error::report(
                    PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
                    format!("domain \"{domain}\" is not registered"),
                    "Add it first with tenant_domain_add(t, domain).",
                )),
            }
        }
        Some(current) => {
            let registered = identity::as_registry_owner(|| {
                spi::execute_one::<bool>(
                    "SELECT true FROM tenant.domains WHERE domain = $1 AND tenant_id = $2 FOR UPDATE",
                    &[domain.into(), current.id.into()],
                )
            })?;
            match registered {
                Some(_) => Ok(current),
                None => Err(error::report(
                    PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
                    format!("domain \"{domain}\" is not registered to the current tenant"),
                    "Add it first with tenant_domain_add(t, domain); the current tenant's domains are in tenant.domains.",
                )),
            }
        }
    }
}

/// 32 hex characters from Postgres' strong random source.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    if !unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), bytes.len()) } {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "could not generate a random verification token",
            "Check the server's random number source.",
        ));
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without stopping at the first difference, so timing does not
/// reveal how much of a guessed token was right.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `tenant_domain_add(t, domain)`: registers a custom domain for the tenant
/// and returns the verification token to publish (e.g. in a DNS TXT record).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_domain_add(t: Option<&str>, domain: Option<&str>) -> Result<String> {
    let (tenant, _) = authz::authorize(t, "tenant_domain_add", Role::Admin, "adding a domain")?;
    let domain = domain_argument(domain, "tenant_domain_add")?;
    tenant.refuse_if_deleted("add a domain")?;
    let token = new_token()?;
    let added =
        identity::as_registry_owner(|| {
            spi::execute_one::<bool>(
            "INSERT INTO tenant.domains (domain, tenant_id, verification_token) VALUES ($1, $2, $3)
             ON CONFLICT (domain) DO NOTHING RETURNING true",
            &[domain.as_str().into(), tenant.id.into(), token.as_str().into()],
        )
        })?;
    if added.is_none() {
        // Which tenant holds it is not the caller's business.
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
            format!("domain \"{domain}\" is already registered"),
            "A domain belongs to one tenant; remove it there first.",
        ));
    }
    Ok(token)
}

/// `tenant_domain_verify(domain, token)`: marks the domain verified when the
/// token matches. The tenant's first verified domain becomes its primary.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_domain_verify(domain: Option<&str>, token: Option<&str>) -> Result<()> {
    let domain = domain_argument(domain, "tenant_domain_verify")?;
    let token = token.ok_or_else(|| error::null_argument("tenant_domain_verify", "token"))?;
    managed_domain(&domain, "verifying a domain")?;
    identity::as_registry_owner(|| {
        let expected = spi::execute_one::<String>(
            "SELECT verification_token FROM tenant.domains WHERE domain = $1 FOR UPDATE",
            &[domain.as_str().into()],
        )?
        .unwrap_or_default();
        if !same_secret(&expected, token) {
            return Err(error::invalid_parameter(
                format!("the verification token for domain \"{domain}\" does not match"),
                "Pass the token that tenant_domain_add returned for this domain.",
            ));
        }
        spi::execute(
            "UPDATE tenant.domains SET verified_at = coalesce(verified_at, now()),
                    is_primary = is_primary OR NOT EXISTS (
                        SELECT FROM tenant.domains p WHERE p.tenant_id = domains.tenant_id AND p.is_primary)
              WHERE domain = $1",
            &[domain.as_str().into()],
        )
    })
}

/// `tenant_domain_remove(domain)`.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_domain_remove(domain: Option<&str>) -> Result<()> {
    let domain = domain_argument(domain, "tenant_domain_remove")?;
    managed_domain(&domain, "removing a domain")?;
    identity::as_registry_owner(|| {
        spi::execute(
            "DELETE FROM tenant.domains WHERE domain = $1",
            &[domain.as_str().into()],
        )
    })
}

/// `tenant_domain_set_primary(domain)`: makes a verified domain the tenant's
/// primary one (the previous primary stays, as a secondary domain).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_domain_set_primary(domain: Option<&str>) -> Result<()> {
    let domain = domain_argument(domain, "tenant_domain_set_primary")?;
    let tenant = managed_domain(&domain, "choosing the primary domain")?;
    identity::as_registry_owner(|| {
        let verified = spi::one::<bool>(
            "SELECT verified_at IS NOT NULL FROM tenant.domains WHERE domain = $1",
            &[domain.as_str().into()],
        )?
        .unwrap_or(false);
        if !verified {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("domain \"{domain}\" is not verified yet"),
                "Verify it first with tenant_domain_verify(domain, token).",
            ));
        }
        spi::execute(
            "UPDATE tenant.domains SET is_primary = false WHERE tenant_id = $1 AND is_primary AND domain <> $2",
            &[tenant.id.into(), domain.as_str().into()],
        )?;
        spi::execute(
            "UPDATE tenant.domains SET is_primary = true WHERE domain = $1",
            &[domain.as_str().into()],
        )
    })
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn domains_are_lower_cased_and_lose_a_trailing_dot() {
        assert_eq!(
            canonical_domain("App.Example.COM").unwrap(),
            "app.example.com"
        );
        assert_eq!(canonical_domain("example.com.").unwrap(), "example.com");
        assert_eq!(
            canonical_domain("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn urls_ports_paths_spaces_and_ips_are_refused() {
        for bad in [
            "https://example.com",
            "example.com/path",
            "example.com:8080",
            "exa mple.com",
            "localhost",
            "-bad.example.com",
            "bad-.example.com",
            "a..b.com",
            "bücher.example",
            "10.0.0.1",
            "under_score.example.com",
            "",
        ] {
            assert!(canonical_domain(bad).is_err(), "{bad}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(canonical_domain(&long_label).is_err());
    }

    #[test]
    fn a_long_bad_domain_is_shortened_in_the_error() {
        let huge = format!("https://{}", "a".repeat(100_000));
        let problem = canonical_domain(&huge).unwrap_err();
        assert!(problem.len() < 200, "{}", problem.len());
        assert!(problem.ends_with("...\" is not a valid domain: remove the scheme (https://)"));
        assert_eq!(
            canonical_domain("acme.test:8080").unwrap_err(),
            "\"acme.test:8080\" is not a valid domain: remove the port"
        );
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
