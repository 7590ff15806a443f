//! Where the tenant and user of the transaction are read from. Always
//! `app.current_tenant` / `app.current_user_id` (`settings`); besides them,
//! a proxy that verifies JWTs itself and hands their claims to Postgres for
//! the transaction, chosen by `pg_tenant.context_source`:
//!
//! | source | setting | tenant claim | user claim |
//! |---|---|---|---|
//! | `app` (default) | none | | |
//! | `postgrest` (PostgREST, Supabase) | `request.jwt.claims` (JSON) | `tenant_id` | `sub` |
//! | `hasura` | `hasura.user` (JSON) | `x-hasura-tenant-id` | `x-hasura-user-id` |
//! | `nself` | `hasura.user` (JSON), as `hasura` | `x-hasura-tenant-id` | `x-hasura-user-id` |
//!
//! nself's seed policies read `current_setting('hasura.user.x-hasura-tenant-id')`,
//! a setting PostgreSQL 14-18 refuse to create (a name part with `-` is not
//! an identifier: 42602), so they always read NULL; the `nself` source reads
//! the claim that name means, from the `hasura.user` JSON Hasura sets.
//!
//! `pg_tenant.claims_tenant_path` / `pg_tenant.claims_user_path` replace the
//! default claims (a dotted path inside the JSON, e.g.
//! `app_metadata.tenant_id`). All three settings are superuser-only.
//!
//! When `app.current_tenant` and the proxy both name a tenant they must be
//! the same (PT005 otherwise); `enforce::current` accepts `app.current_tenant`
//! alone beside a proxy source only when `tenant_set_token` named it. The proxy's setting is guarded like
//! pg_tenant's own (refused when it outlives its transaction), and its JSON
//! is parsed once per value: later reads compare the text with the cached
//! one and take the parsed claims.

use super::{epoch, settings};
use crate::error::{self, Refusal, Result};
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum, Uuid};
use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};

/// `pg_tenant.context_source`.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ContextSource {
    #[name = c"app"]
    App,
    #[name = c"postgrest"]
    Postgrest,
    #[name = c"hasura"]
    Hasura,
    #[name = c"nself"]
    Nself,
}

static SOURCE: GucSetting<ContextSource> = GucSetting::<ContextSource>::new(ContextSource::App);
static TENANT_PATH: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static USER_PATH: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Moves on whenever a claim path changes (its assign hook), so a read
/// compares a number instead of the paths' text.
static PATHS_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Postgres' assign hook of the claim paths; must not fail.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn paths_changed(
    _value: *const std::ffi::c_char,
    _extra: *mut std::ffi::c_void,
) {
    PATHS_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Defines the settings (called by `settings::init`, before the prefix is
/// reserved).
pub fn define() {
    GucRegistry::define_enum_guc(
        c"pg_tenant.context_source",
        c"pg_tenant: where the tenant and user are read from besides app.current_tenant (app, postgrest, hasura, nself).",
        c"app (default): app.current_tenant and app.current_user_id only. postgrest: also request.jwt.claims (PostgREST, Supabase). hasura and nself: also hasura.user. The proxy must have verified the JWT; a role that can run SQL can set these settings itself (README, \"Claims from a proxy\").",
        &SOURCE,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SAFETY: the assign hook is #[pg_guard]ed and cannot fail.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"pg_tenant.claims_tenant_path",
            c"pg_tenant: the claim of pg_tenant.context_source that names the tenant.",
            c"Empty (default): tenant_id (postgrest), x-hasura-tenant-id (hasura, nself). A dotted path inside the JSON, e.g. app_metadata.tenant_id.",
            &TENANT_PATH,
            GucContext::Suset,
            GucFlags::default(),
            None,
            Some(paths_changed),
            None,
        );
        GucRegistry::define_string_guc_with_hooks(
            c"pg_tenant.claims_user_path",
            c"pg_tenant: the claim of pg_tenant.context_source that names the user.",
            c"Empty (default): sub (postgrest), x-hasura-user-id (hasura, nself). A dotted path inside the JSON.",
            &USER_PATH,
            GucContext::Suset,
            GucFlags::default(),
            None,
            Some(paths_changed),
            None,
        );
    }
}

/// A tenant or user named for this transaction, and the setting it was read
/// from (for messages, and for `enforce::current`, which accepts
/// `app.current_tenant` beside a proxy source only when a token named it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Named {
    pub id: Uuid,
    /// For a tenant: whether this session found it active since the setting
    /// or the registry last changed (see `settings::tenant`).
    pub verified: bool,
    pub setting: &'static str,
    /// Whether it came from the proxy's claims (else from pg_tenant's own setting).
    pub from_claims: bool,
}

/// The setting the configured proxy source reads, or None for `app`.
pub fn proxy_setting() -> Option<&'static str> {
    match SOURCE.get() {
        ContextSource::App => None,
        ContextSource::Postgrest => Some("request.jwt.claims"),
        ContextSource::Hasura | ContextSource::Nself => Some("hasura.user"),
    }
}

/// The tenant named for this transaction, from `app.current_tenant` or the
/// proxy source; PT005 when both name one and they differ.
#[inline]
pub fn tenant() -> Result<Option<Named>> {
    let own = settings::tenant()?.map(|(id, verified)| Named {
        id,
        verified,
        setting: "app.current_tenant",
        from_claims: false,
    });
    let Some(setting) = proxy_setting() else {
        return Ok(own);
    };
    let Some(claimed) = claims()?.map(|c| c.tenant).transpose()?.flatten() else {
        return Ok(own);
    };
    match own {
        Some(named) if named.id != claimed => Err(conflict("app.current_tenant", "tenants")),
        _ => Ok(Some(Named {
            id: claimed,
            verified: own.is_some_and(|n| n.verified) || claimed_verified(&claimed),
            setting,
            from_claims: true,
        })),
    }
}

/// Remembers that `id`, the tenant in context, was found active.
pub fn mark_verified(id: &Uuid) {
    settings::mark_verified(id);
    PARSED.with(|cell| {
        if let Some(parsed) = cell.borrow_mut().as_mut() {
            if parsed.tenant == Claim::Id(*id) {
                parsed.verified_in = epoch::current();
            }
        }
    });
}

/// The acting user, from `app.current_user_id` or the proxy source; PT005
/// when both name one and they differ.
pub fn user() -> Result<Option<Named>> {
    let own = settings::user()?.map(|id| Named {
        id,
        verified: false,
        setting: "app.current_user_id",
        from_claims: false,
    });
    let Some(setting) = proxy_setting() else {
        return Ok(own);
    };
    let Some(claimed) = claims()?.map(|c| c.user).transpose()?.flatten() else {
        return Ok(own);
    };
    match own {
        Some(named) if named.id != claimed => Err(conflict("app.current_user_id", "users")),
        _ => Ok(Some(Named {
            id: claimed,
            verified: false,
            setting,
            from_claims: true,
        })),
    }
}

/// One claim as read from the proxy's setting.
#[derive(Clone, PartialEq)]
enum Claim {
    /// Absent, null or ''.
    Absent,
    Id(Uuid),
    /// Not a UUID: the value as given.
    NotUuid(String),
    /// The setting is not a JSON object.
    NotJson,
}

/// The claims of the proxy source, parsed once per value of its setting.
struct Parsed {
    /// The setting's text, and the source and claim paths it was read with
    /// (the paths by generation).
    text: Vec<u8>,
    source: ContextSource,
    paths_generation: u64,
    paths: (String, String),
    tenant: Claim,
    user: Claim,
    /// The registry epoch in which the tenant was last found active (0: not yet).
    verified_in: u64,
}

/// What `claims()` hands out: the tenant and user, or the error reading
/// each raises.
struct Claims {
    tenant: Result<Option<Uuid>>,
    user: Result<Option<Uuid>>,
}

thread_local! {
    static PARSED: RefCell<Option<Parsed>> = const { RefCell::new(None) };
}

fn claimed_verified(id: &Uuid) -> bool {
    PARSED.with(|cell| {
        cell.borrow()
            .as_ref()
            .is_some_and(|p| p.tenant == Claim::Id(*id) && p.verified_in == epoch::current())
    })
}

/// The claim paths of the source: the configured ones or its defaults.
fn paths(source: ContextSource) -> (String, String) {
    let (tenant, user) = match source {
        ContextSource::Postgrest => ("tenant_id", "sub"),
        _ => ("x-hasura-tenant-id", "x-hasura-user-id"),
    };
    let or_default = |setting: &GucSetting<Option<CString>>, default: &str| {
        setting
            .get()
            .and_then(|v| v.into_string().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    (
        or_default(&TENANT_PATH, tenant),
        or_default(&USER_PATH, user),
    )
}

/// The tenant and user the proxy source names; None when its setting is
/// unset. 25000 when the setting outlives its transaction.
fn claims() -> Result<Option<Claims>> {
    let source = SOURCE.get();
    let Some(name) = proxy_setting() else {
        return Ok(None);
    };
    let setting: &CStr = match source {
        ContextSource::Postgrest => c"request.jwt.claims",
        _ => c"hasura.user",
    };
    let Some(text) = settings::read_foreign(setting)? else {
        return Ok(None);
    };
    let generation = PATHS_GENERATION.load(Ordering::Relaxed);
    let fresh = PARSED.with(|cell| {
        !cell.borrow().as_ref().is_some_and(|p| {
            p.text == text && p.source == source && p.paths_generation == generation
        })
    });
    if fresh {
        let (tenant_path, user_path) = paths(source);
        let json: Option<serde_json::Value> = serde_json::from_slice(text).ok();
        let parsed = Parsed {
            tenant: claim_at(json.as_ref(), &tenant_path),
            user: claim_at(json.as_ref(), &user_path),
            text: text.to_vec(),
            source,
            paths_generation: generation,
            paths: (tenant_path, user_path),
            verified_in: 0,
        };
        PARSED.with(|cell| *cell.borrow_mut() = Some(parsed));
    }
    Ok(PARSED.with(|cell| {
        cell.borrow().as_ref().map(|p| Claims {
            tenant: claim_result(&p.tenant, name, &p.paths.0, "tenant"),
            user: claim_result(&p.user, name, &p.paths.1, "user"),
        })
    }))
}

/// The claim at a dotted path of the JSON.
fn claim_at(json: Option<&serde_json::Value>, path: &str) -> Claim {
    let Some(json) = json.filter(|j| j.is_object()) else {
        return Claim::NotJson;
    };
    let Some(value) = path.split('.').try_fold(json, |v, part| v.get(part)) else {
        return Claim::Absent;
    };
    match value {
        serde_json::Value::Null => Claim::Absent,
        serde_json::Value::String(s) if s.is_empty() => Claim::Absent,
        serde_json::Value::String(s) => uuid::Uuid::parse_str(s)
            .map(|id| Claim::Id(Uuid::from_bytes(*id.as_bytes())))
            .unwrap_or_else(|_| Claim::NotUuid(s.clone())),
        other => Claim::NotUuid(other.to_string()),
    }
}

/// A claim as the reader sees it: None when absent; 22P02 when the claim is
/// not a UUID, 22023 when the setting is not JSON.
fn claim_result(claim: &Claim, setting: &str, path: &str, what: &str) -> Result<Option<Uuid>> {
    match claim {
        Claim::Absent => Ok(None),
        Claim::Id(id) => Ok(Some(*id)),
        Claim::NotUuid(value) => Err(error::invalid_uuid(
            &format!("the claim {} of {setting}", error::shorten(path)),
            value,
            format!(
                "The proxy's token must carry the {what}'s UUID there (a superuser names the claim with pg_tenant.claims_{what}_path)."
            ),
        )),
        Claim::NotJson => Err(error::invalid_parameter(
            format!("{setting} is not a JSON object"),
            format!("pg_tenant.context_source reads the {what} from {setting}: the proxy sets it to the token's claims as a JSON object."),
        )),
    }
}

/// PT005: `app.current_tenant` (or `app.current_user_id`) and the proxy's
/// claims name different tenants (or users). Neither value is repeated.
fn conflict(setting: &str, what: &str) -> pgrx::pg_sys::panic::ErrorReport {
    let source = proxy_setting().unwrap_or("the proxy's claims");
    error::refusal(
        Refusal::ContextConflict,
        format!("{setting} and {source} name different {what}"),
        format!("With pg_tenant.context_source set, the proxy's claims name the {what}: leave {setting} unset, or set it to the same id."),
    )
}
