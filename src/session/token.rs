//! The settings of signed context (`tenant_set_token`) and what this
//! transaction's last verified token named.
//!
//! - `pg_tenant.jwt_keys` (PGC_SIGHUP, superuser-only): a JSON Web Key Set,
//!   `{"keys": [{"kid": ..., "alg": ..., ...}]}`. SIGHUP settings come only
//!   from postgresql.conf or ALTER SYSTEM (files only the server reads), never
//!   from ALTER ROLE/DATABASE (pg_db_role_setting is readable by every role)
//!   or SET; GUC_SUPERUSER_ONLY hides the value from pg_settings and SHOW
//!   for roles without pg_read_all_settings. Keys rotate by adding the new
//!   key, reloading, and removing the old one once its tokens have expired.
//! - `pg_tenant.jwt_tenant_claim` (default `tenant_id`, a dotted path),
//!   `pg_tenant.jwt_leeway` (seconds of clock skew, default 30),
//!   `pg_tenant.jwt_audience` (checked when set), `pg_tenant.token_requires_membership`
//!   and `pg_tenant.require_token`: superuser-only.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::cell::Cell;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the library was loaded by shared_preload_libraries. Only then is
/// `pg_tenant.jwt_keys` defined (superuser-only) before any session can read
/// it: a session that has not loaded the library yet would otherwise see the
/// value of postgresql.conf as an unprotected placeholder.
static PRELOADED: AtomicBool = AtomicBool::new(false);

static JWT_KEYS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static TENANT_CLAIM: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"tenant_id"));
static LEEWAY: GucSetting<i32> = GucSetting::<i32>::new(30);
static AUDIENCE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static REQUIRE_MEMBERSHIP: GucSetting<bool> = GucSetting::<bool>::new(false);
static REQUIRE_TOKEN: GucSetting<bool> = GucSetting::<bool>::new(false);

thread_local! {
    /// The tenant and user the last token verified in this transaction
    /// named (their bytes); cleared when the transaction ends.
    static TOKEN_CONTEXT: Cell<Option<([u8; 16], [u8; 16])>> = const { Cell::new(None) };
}

/// Defines the settings (called by `settings::init`, before the prefix is
/// reserved).
pub fn define() {
    // SAFETY: a plain read of a Postgres global, during _PG_init.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        PRELOADED.store(true, Ordering::Relaxed);
    }
    GucRegistry::define_string_guc(
        c"pg_tenant.jwt_keys",
        c"pg_tenant: the keys tenant_set_token verifies tokens with (a JSON Web Key Set).",
        c"{\"keys\": [{\"kid\": \"2026-01\", \"alg\": \"HS256\", \"kty\": \"oct\", \"k\": \"<base64url secret>\"}, {\"kid\": \"ed-1\", \"alg\": \"EdDSA\", \"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"<base64url public key>\"}]}. Only in postgresql.conf or ALTER SYSTEM (then SELECT pg_reload_conf()); visible to superusers only.",
        &JWT_KEYS,
        GucContext::Sighup,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"pg_tenant.jwt_tenant_claim",
        c"pg_tenant: the claim of a token that names its tenant (a dotted path).",
        c"Default tenant_id; e.g. app_metadata.tenant_id for a claim inside an object.",
        &TENANT_CLAIM,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pg_tenant.jwt_leeway",
        c"pg_tenant: seconds of clock skew allowed when checking a token's exp and nbf.",
        c"Default 30, at most 300.",
        &LEEWAY,
        0,
        300,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"pg_tenant.jwt_audience",
        c"pg_tenant: when set, a token's aud must name it.",
        c"Empty (default): aud is not checked.",
        &AUDIENCE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pg_tenant.token_requires_membership",
        c"pg_tenant: whether a token's sub must be a member of its tenant.",
        c"off (default): the token's issuer vouches for both claims. on: tenant_set_token also requires a row in tenant.members.",
        &REQUIRE_MEMBERSHIP,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pg_tenant.require_token",
        c"pg_tenant: whether the tenant must be named by tenant_set_token.",
        c"on: for roles that are not operators (tenant_admin), a tenant named any other way (set_config, tenant_set) is refused when read, so a SQL injection in the application cannot switch tenants.",
        &REQUIRE_TOKEN,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// The key set's text, if configured.
pub fn keys_text() -> Option<String> {
    JWT_KEYS
        .get()
        .map(|text| text.to_string_lossy().into_owned())
        .filter(|text| !text.trim().is_empty())
}

/// The tenant claim's path.
pub fn tenant_claim() -> String {
    TENANT_CLAIM
        .get()
        .map(|text| text.to_string_lossy().into_owned())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "tenant_id".into())
}

pub fn leeway_seconds() -> u64 {
    LEEWAY.get().max(0) as u64
}

pub fn audience() -> Option<String> {
    AUDIENCE
        .get()
        .map(|text| text.to_string_lossy().into_owned())
        .filter(|text| !text.is_empty())
}

pub fn membership_required() -> bool {
    REQUIRE_MEMBERSHIP.get()
}

#[inline]
pub fn token_required() -> bool {
    REQUIRE_TOKEN.get()
}

/// Whether the library was preloaded (see `PRELOADED`).
pub fn preloaded() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

/// Remembers the tenant and user a verified token named, until the
/// transaction ends.
pub fn remember_token(tenant: [u8; 16], user: [u8; 16]) {
    TOKEN_CONTEXT.with(|cell| cell.set(Some((tenant, user))));
}

/// The tenant this transaction's last verified token named.
pub fn token_tenant() -> Option<[u8; 16]> {
    TOKEN_CONTEXT.with(Cell::get).map(|(tenant, _)| tenant)
}

/// The user this transaction's last verified token named.
pub fn token_user() -> Option<[u8; 16]> {
    TOKEN_CONTEXT.with(Cell::get).map(|(_, user)| user)
}

/// The end of a transaction (called by `settings::transaction_ended`).
pub fn transaction_ended() {
    TOKEN_CONTEXT.with(|cell| cell.set(None));
}
