//! `tenant_set_token(token)`: a tenant context the application proves with a
//! signed JSON Web Token instead of naming it. The verification is
//! jsonwebtoken's (ring underneath: constant-time HMAC comparison, RSA,
//! ECDSA, Ed25519); this module chooses the key, the algorithm and the
//! claims, and refuses everything else before anything is set.

use crate::enforce::current;
use crate::error::{self, Result};
use crate::names::{TENANT_SETTING, USER_SETTING};
use crate::registry::roles;
use crate::session::settings::set_local;
use crate::session::token;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A configured key: the one algorithm it verifies, and the key.
struct Key {
    algorithm: Algorithm,
    key: DecodingKey,
}

type Keys = Rc<HashMap<String, Key>>;

thread_local! {
    /// The key set parsed from `pg_tenant.jwt_keys`, with the text it was
    /// parsed from (parsed again when the setting changes).
    static KEYS: RefCell<Option<(String, Keys)>> = const { RefCell::new(None) };
}

/// `tenant_set_token(token)`: verifies `token` and sets the tenant of its
/// tenant claim and the user of its `sub` for the current transaction;
/// returns the tenant. Nothing is set when anything is wrong.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_set_token(token: Option<&str>) -> Result<Uuid> {
    let token = token.ok_or_else(|| error::null_argument("tenant_set_token", "token"))?;
    let (tenant, user) = verify(token)?;
    current::require_active(tenant)?;
    if token::membership_required() && roles::role_of(tenant, user)?.is_none() {
        return Err(error::refusal(
            error::Refusal::NotMember,
            format!("the user {user} of the token is not a member of its tenant {tenant}"),
            "pg_tenant.token_requires_membership is on: add the user with tenant_member_add, or issue the token for a tenant the user belongs to.",
        ));
    }
    set_local(TENANT_SETTING, &tenant.to_string());
    set_local(USER_SETTING, &user.to_string());
    token::remember_token(*tenant.as_bytes(), *user.as_bytes());
    Ok(tenant)
}

/// The tenant and user a valid token names.
fn verify(token: &str) -> Result<(Uuid, Uuid)> {
    let keys = keys()?;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| refused("the token is not a JWT (three base64url parts, a JSON header)"))?;
    // A token without a kid (PostgREST's and Supabase's HS256 tokens carry
    // none) is checked against the one key, when the set holds only one.
    let (kid, key) =
        match header.kid {
            Some(kid) => {
                let key = keys.get(&kid).ok_or_else(|| {
                    refused(&format!(
                        "the token's key id {:?} is not in pg_tenant.jwt_keys",
                        error::shorten(&kid)
                    ))
                })?;
                (kid, key)
            }
            None if keys.len() == 1 => keys
                .iter()
                .next()
                .map(|(kid, key)| (kid.clone(), key))
                .ok_or_else(|| refused("the token's header names no key (kid)"))?,
            None => return Err(refused(
                "the token's header names no key (kid), and pg_tenant.jwt_keys holds more than one",
            )),
        };
    // The key decides the algorithm, never the token: an HS256 token
    // presented for an RSA or Ed25519 key is refused here.
    if header.alg != key.algorithm {
        return Err(refused(&format!(
            "the token is signed with {:?}, but key {:?} is for {:?}",
            header.alg,
            error::shorten(&kid),
            key.algorithm
        )));
    }
    let mut validation = Validation::new(key.algorithm);
    validation.leeway = token::leeway_seconds();
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp"]);
    match token::audience() {
        Some(audience) => {
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "aud"]);
        }
        None => validation.validate_aud = false,
    }
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
                refused_as(error::Refusal::TokenExpired, explain(e.kind()))
            }
            kind => refused(explain(kind)),
        })?
        .claims;
    let path = token::tenant_claim();
    let tenant = uuid_claim(&claims, &path)?;
    let user = uuid_claim(&claims, "sub")?;
    Ok((tenant, user))
}

fn explain(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired (exp)",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidSignature => "the token's signature does not verify with its key",
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
            "the token names no audience (aud)"
        }
        ErrorKind::MissingRequiredClaim(_) => "the token has no expiry (exp)",
        ErrorKind::InvalidAudience => "the token is not for this audience (aud)",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            "the token's algorithm does not match its key"
        }
        ErrorKind::Base64(_) => "the token is not valid base64url",
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => "the token's payload is not a JSON object",
        _ => "the token is malformed",
    }
}

/// The claim at a dotted path, as a UUID.
fn uuid_claim(claims: &serde_json::Value, path: &str) -> Result<Uuid> {
    let value = path
        .split('.')
        .try_fold(claims, |v, part| v.get(part))
        .ok_or_else(|| refused(&format!("the token has no claim {}", error::shorten(path))))?;
    value
        .as_str()
        .and_then(|text| uuid::Uuid::parse_str(text).ok())
        .map(|id| Uuid::from_bytes(*id.as_bytes()))
        .ok_or_else(|| {
            refused(&format!(
                "the token's claim {} is not a UUID",
                error::shorten(path)
            ))
        })
}

/// A token refused: PT003 (PT004 when expired or not valid yet), never
/// echoing the token.
fn refused(why: &str) -> ErrorReport {
    refused_as(error::Refusal::TokenInvalid, why)
}

fn refused_as(refusal: error::Refusal, why: &str) -> ErrorReport {
    error::refusal(
        refusal,
        format!("tenant_set_token: {why}; nothing was set"),
        "Issue a token signed with a key of pg_tenant.jwt_keys (its kid and alg), with exp, the tenant claim (pg_tenant.jwt_tenant_claim) and sub as UUIDs; pass it as a parameter (tenant_set_token($1)), never as a literal.",
    )
}

/// The configured keys, parsed once per value of the setting.
fn keys() -> Result<Keys> {
    if !token::preloaded() {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "tenant_set_token needs pg_tenant in shared_preload_libraries",
            "Otherwise a session that has not loaded pg_tenant yet reads pg_tenant.jwt_keys as an unprotected placeholder. Add pg_tenant to shared_preload_libraries in postgresql.conf and restart.",
        ));
    }
    let text = token::keys_text().ok_or_else(|| {
        error::report(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "tenant_set_token: no keys are configured (pg_tenant.jwt_keys is empty)",
            "As a superuser: LOAD 'pg_tenant'; ALTER SYSTEM SET pg_tenant.jwt_keys = '{\"keys\": [...]}'; SELECT pg_reload_conf();",
        )
    })?;
    if let Some(keys) = KEYS.with(|cell| {
        cell.borrow()
            .as_ref()
            .filter(|(parsed, _)| *parsed == text)
            .map(|(_, keys)| keys.clone())
    }) {
        return Ok(keys);
    }
    let keys = Rc::new(parse_keys(&text)?);
    KEYS.with(|cell| *cell.borrow_mut() = Some((text, keys.clone())));
    Ok(keys)
}

/// Parses a JSON Web Key Set; every key needs a kid and an alg. Errors name
/// the key, never its material.
fn parse_keys(text: &str) -> Result<HashMap<String, Key>> {
    let set: JwkSet = serde_json::from_str(text).map_err(|_| {
        bad_keys("pg_tenant.jwt_keys is not a JSON Web Key Set ({\"keys\": [...]})".into())
    })?;
    let mut keys = HashMap::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let kid =
            jwk.common.key_id.clone().ok_or_else(|| {
                bad_keys(format!("key {} of pg_tenant.jwt_keys has no kid", i + 1))
            })?;
        let algorithm = jwk
            .common
            .key_algorithm
            .and_then(algorithm_of)
            .ok_or_else(|| {
                bad_keys(format!(
                    "key \"{}\" of pg_tenant.jwt_keys has no supported alg (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)",
                    error::shorten(&kid)
                ))
            })?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| {
            bad_keys(format!(
                "key \"{}\" of pg_tenant.jwt_keys cannot be read for {algorithm:?}",
                error::shorten(&kid)
            ))
        })?;
        if keys.insert(kid.clone(), Key { algorithm, key }).is_some() {
            return Err(bad_keys(format!(
                "pg_tenant.jwt_keys has two keys with kid \"{}\"",
                error::shorten(&kid)
            )));
        }
    }
    Ok(keys)
}

fn algorithm_of(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

fn bad_keys(message: String) -> ErrorReport {
    error::report(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message,
        "Fix pg_tenant.jwt_keys (a JSON Web Key Set whose keys each have kid and alg) and SELECT pg_reload_conf();",
    )
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::store::subxact::{in_subtransaction, Keep};
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use pgrx::prelude::*;
    use serde_json::{json, Value};

    /// The secret of key hs-1 and the private key of ed-1 in the test
    /// server's pg_tenant.jwt_keys (src/lib.rs).
    const HS_SECRET: &[u8] = b"pg_tenant test secret, 32 bytes!";
    const ED_PKCS8_BASE64: &str =
        "MC4CAQAwBQYDK2VwBCIEIPDv38/019WmWI/CeVSiiN8bxQvU7OlZxiK+j33TFBs/";
    const USER: &str = "a0000000-0000-4000-8000-00000000000a";

    fn now() -> i64 {
        Spi::get_one::<i64>("SELECT extract(epoch FROM now())::bigint")
            .unwrap()
            .unwrap()
    }

    fn tenant(slug: &str) -> String {
        Spi::get_one::<String>(&format!("SELECT tenant_create('{slug}', '{slug}')::text"))
            .unwrap()
            .unwrap()
    }

    fn claims(tenant: &str) -> Value {
        json!({"tenant_id": tenant, "sub": USER, "exp": now() + 300})
    }

    fn hs(claims: &Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.into());
        encode(&header, claims, &EncodingKey::from_secret(HS_SECRET)).unwrap()
    }

    fn ed(claims: &Value) -> String {
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(ED_PKCS8_BASE64)
            .unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("ed-1".into());
        encode(&header, claims, &EncodingKey::from_ed_der(&der)).unwrap()
    }

    /// An error caught by `attempt`: its SQLSTATE and message.
    #[derive(Debug, PartialEq)]
    struct Refused(String, String);

    impl Refused {
        fn contains(&self, text: &str) -> bool {
            self.1.contains(text)
        }
    }

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.0, self.1)
        }
    }

    /// The text `sql` (with `$1` = `arg`) returns, or the error it raised
    /// (SQLSTATE, message). Runs in a subtransaction (as a PL/pgSQL
    /// EXCEPTION block would), kept only when it succeeded.
    fn attempt(sql: &str, arg: &str) -> Result<String, Refused> {
        let run = || Ok(Spi::get_one_with_args::<String>(sql, &[arg.into()]).unwrap());
        match in_subtransaction(Keep::OnSuccess, run) {
            Ok(Ok(value)) => Ok(value.unwrap_or_default()),
            Ok(Err(report)) => Err(Refused(String::new(), report.message().to_string())),
            Err(caught) => Err(Refused(caught.sqlstate, caught.message)),
        }
    }

    /// tenant_set_token's result or error, and what app.current_tenant
    /// holds afterwards.
    fn set(token: &str) -> (Result<String, Refused>, String) {
        let outcome = attempt("SELECT tenant_set_token($1)::text", token);
        let current = Spi::get_one::<String>("SELECT current_setting('app.current_tenant', true)")
            .unwrap()
            .unwrap_or_default();
        (outcome, current)
    }

    #[pg_test]
    fn a_valid_token_sets_tenant_and_user_for_the_transaction() {
        let acme = tenant("acme");
        let (result, current) = set(&hs(&claims(&acme), "hs-1"));
        assert_eq!(result.as_deref(), Ok(acme.as_str()));
        assert_eq!(current, acme);
        let user = Spi::get_one::<String>("SELECT current_tenant_user_id()::text").unwrap();
        assert_eq!(user.as_deref(), Some(USER));
        // EdDSA works the same.
        let globex = tenant("globex");
        assert_eq!(set(&ed(&claims(&globex))).0.as_deref(), Ok(globex.as_str()));
    }

    #[pg_test]
    fn a_tampered_payload_is_refused() {
        use base64::Engine;
        let acme = tenant("acme");
        let other = tenant("other");
        let token = hs(&claims(&acme), "hs-1");
        let parts: Vec<&str> = token.split('.').collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(&other)).unwrap());
        let (result, current) = set(&format!("{}.{}.{}", parts[0], forged, parts[2]));
        assert!(result.unwrap_err().contains("signature does not verify"));
        assert_eq!(current, "");
    }

    #[pg_test]
    fn every_bad_token_is_refused_and_sets_nothing() {
        let acme = tenant("acme");
        let suspended = tenant("suspended");
        Spi::run(&format!("SELECT tenant_suspend('{suspended}')")).unwrap();
        let t = now();
        let with = |extra: Value| {
            let mut c = claims(&acme);
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        };
        let wrong_key = {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("hs-1".into());
            encode(
                &header,
                &claims(&acme),
                &EncodingKey::from_secret(b"another secret of 32 bytes!!!!!"),
            )
            .unwrap()
        };
        // HS256 signed with the Ed25519 public key's bytes, presented as ed-1.
        let confused = {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("ed-1".into());
            encode(
                &header,
                &claims(&acme),
                &EncodingKey::from_secret(b"SGTM4EtlzNXruN9y2j73APWyRYMS8qK3bzHzUhcN6ho"),
            )
            .unwrap()
        };
        let no_exp = {
            let mut c = claims(&acme);
            c.as_object_mut().unwrap().remove("exp");
            hs(&c, "hs-1")
        };
        let none_alg = format!(
            "{}.{}.",
            "eyJhbGciOiJub25lIiwia2lkIjoiaHMtMSJ9",
            hs(&claims(&acme), "hs-1").split('.').nth(1).unwrap()
        );
        let cases: Vec<(&str, String, &str, &str)> = vec![
            ("malformed", "not a token".into(), "is not a JWT", "PT003"),
            ("bad base64", "e30.%%%.abc".into(), "is not a JWT", "PT003"),
            ("alg none", none_alg, "is not a JWT", "PT003"),
            ("wrong key", wrong_key, "signature does not verify", "PT003"),
            (
                "unknown kid",
                hs(&claims(&acme), "hs-9"),
                "key id \"hs-9\" is not in pg_tenant.jwt_keys",
                "PT003",
            ),
            (
                "algorithm confusion",
                confused,
                "signed with HS256, but key \"ed-1\" is for EdDSA",
                "PT003",
            ),
            (
                "expired",
                hs(&with(json!({"exp": t - 3600})), "hs-1"),
                "has expired",
                "PT004",
            ),
            (
                "not yet valid",
                hs(&with(json!({"nbf": t + 3600})), "hs-1"),
                "not valid yet",
                "PT004",
            ),
            ("no exp", no_exp, "has no expiry", "PT003"),
            (
                "no kid, two keys",
                {
                    let header = Header::new(Algorithm::HS256);
                    encode(
                        &header,
                        &claims(&acme),
                        &EncodingKey::from_secret(HS_SECRET),
                    )
                    .unwrap()
                },
                "names no key (kid), and pg_tenant.jwt_keys holds more than one",
                "PT003",
            ),
            (
                "no tenant claim",
                hs(&json!({"sub": USER, "exp": t + 300}), "hs-1"),
                "has no claim tenant_id",
                "PT003",
            ),
            (
                "tenant not a uuid",
                hs(&with(json!({"tenant_id": "acme"})), "hs-1"),
                "claim tenant_id is not a UUID",
                "PT003",
            ),
            (
                "sub not a uuid",
                hs(&with(json!({"sub": "alice"})), "hs-1"),
                "claim sub is not a UUID",
                "PT003",
            ),
            (
                "unknown tenant",
                hs(
                    &with(json!({"tenant_id": "00000000-0000-4000-8000-0000000000ff"})),
                    "hs-1",
                ),
                "does not exist",
                "PT011",
            ),
            (
                "suspended tenant",
                hs(&with(json!({"tenant_id": suspended})), "hs-1"),
                "is suspended",
                "PT012",
            ),
        ];
        for (case, token, expected, sqlstate) in cases {
            let (result, current) = set(&token);
            let refused = result.expect_err(case);
            assert!(refused.contains(expected), "{case}: {refused}");
            assert_eq!(refused.0, sqlstate, "{case}: {refused}");
            assert_eq!(current, "", "{case}: something was set");
        }
    }

    #[pg_test]
    fn the_leeway_accepts_a_token_just_expired() {
        let acme = tenant("acme");
        let mut c = claims(&acme);
        c["exp"] = json!(now() - 10);
        assert_eq!(set(&hs(&c, "hs-1")).0.as_deref(), Ok(acme.as_str()));
    }

    #[pg_test]
    fn membership_is_required_when_asked() {
        let acme = tenant("acme");
        Spi::run("SET LOCAL pg_tenant.token_requires_membership = on").unwrap();
        let message = set(&hs(&claims(&acme), "hs-1"))
            .0
            .expect_err("not a member");
        assert!(
            message.contains("is not a member of its tenant"),
            "{message}"
        );
        assert_eq!(message.0, "PT014");
        Spi::run(&format!("SELECT tenant_member_add('{acme}', '{USER}')")).unwrap();
        assert_eq!(
            set(&hs(&claims(&acme), "hs-1")).0.as_deref(),
            Ok(acme.as_str())
        );
    }

    #[pg_test]
    fn require_token_refuses_a_tenant_named_otherwise() {
        let acme = tenant("acme");
        let globex = tenant("globex");
        Spi::run("CREATE ROLE token_app").unwrap();
        Spi::run("SET LOCAL pg_tenant.require_token = on").unwrap();
        Spi::run("SET LOCAL ROLE token_app").unwrap();
        // Named with a token: accepted.
        assert_eq!(
            set(&hs(&claims(&acme), "hs-1")).0.as_deref(),
            Ok(acme.as_str())
        );
        assert_eq!(
            Spi::get_one::<String>("SELECT current_tenant_id()::text")
                .unwrap()
                .as_deref(),
            Some(acme.as_str())
        );
        // Switched by set_config afterwards (an injection): refused on read.
        Spi::run(&format!(
            "SELECT set_config('app.current_tenant', '{globex}', true)"
        ))
        .unwrap();
        let err = attempt("SELECT current_tenant_id()::text || $1", "").unwrap_err();
        assert!(err.contains("was not set by tenant_set_token"), "{err}");
        assert_eq!(err.0, "PT002");
        // tenant_set (by slug, as an injected call would), after a token
        // named acme again, is refused the same way.
        assert_eq!(
            set(&hs(&claims(&acme), "hs-1")).0.as_deref(),
            Ok(acme.as_str())
        );
        let err = attempt("SELECT tenant_set($1)::text", "globex")
            .and_then(|_| attempt("SELECT count(*)::text || $1 FROM tenant.tenants", ""))
            .unwrap_err();
        assert!(err.contains("was not set by tenant_set_token"), "{err}");
        // The user is pinned the same way: a token's tenant with another user is refused.
        assert_eq!(
            set(&hs(&claims(&acme), "hs-1")).0.as_deref(),
            Ok(acme.as_str())
        );
        attempt(
            "SELECT set_config('app.current_user_id', $1, true)",
            "b0000000-0000-4000-8000-00000000000b",
        )
        .unwrap();
        let err = attempt("SELECT current_tenant_user_id()::text || $1", "").unwrap_err();
        assert!(
            err.contains("app.current_user_id was not set by tenant_set_token"),
            "{err}"
        );
    }

    #[pg_test]
    fn an_audience_once_set_is_required() {
        let acme = tenant("acme");
        Spi::run("SET LOCAL pg_tenant.jwt_audience = 'api'").unwrap();
        let message = set(&hs(&claims(&acme), "hs-1")).0.expect_err("no aud");
        assert!(message.contains("names no audience"), "{message}");
        let mut c = claims(&acme);
        c["aud"] = json!("other");
        let message = set(&hs(&c, "hs-1")).0.expect_err("wrong aud");
        assert!(message.contains("not for this audience"), "{message}");
        c["aud"] = json!("api");
        assert_eq!(set(&hs(&c, "hs-1")).0.as_deref(), Ok(acme.as_str()));
    }

    #[pg_test]
    fn a_proxy_source_takes_the_tenant_from_claims_and_a_token_proves_it() {
        let acme = tenant("acme");
        let globex = tenant("globex");
        Spi::run("CREATE ROLE claims_app").unwrap();
        Spi::run("SET LOCAL pg_tenant.context_source = 'postgrest'").unwrap();
        Spi::run("SET LOCAL pg_tenant.require_token = on").unwrap();
        Spi::run("SET LOCAL ROLE claims_app").unwrap();
        let claims_of = |t: &str| json!({"tenant_id": t, "sub": USER}).to_string();
        // PostgREST's claims and, in its pre-request step, the same token verified.
        attempt(
            "SELECT set_config('request.jwt.claims', $1, true)",
            &claims_of(&acme),
        )
        .unwrap();
        assert_eq!(
            set(&hs(&claims(&acme), "hs-1")).0.as_deref(),
            Ok(acme.as_str())
        );
        assert_eq!(
            attempt("SELECT current_tenant_id()::text || $1", "").as_deref(),
            Ok(acme.as_str())
        );
        // A spoofed claim afterwards disagrees with the verified tenant: PT005.
        attempt(
            "SELECT set_config('request.jwt.claims', $1, true)",
            &claims_of(&globex),
        )
        .unwrap();
        let err = attempt("SELECT current_tenant_id()::text || $1", "").unwrap_err();
        assert_eq!(err.0, "PT005", "{err}");
        Spi::run("RESET ROLE").unwrap();
        Spi::run("SET LOCAL pg_tenant.require_token = off").unwrap();
        Spi::run("SET LOCAL ROLE claims_app").unwrap();
        // Without require_token, app.current_tenant alone beside the proxy
        // source is refused unless a token named it (PT005)...
        attempt("SELECT set_config('request.jwt.claims', $1, true)", "{}").unwrap();
        attempt("SELECT set_config('app.current_tenant', $1, true)", &globex).unwrap();
        let err = attempt("SELECT current_tenant_id()::text || $1", "").unwrap_err();
        assert_eq!(err.0, "PT005", "{err}");
        assert!(
            err.contains("is not accepted beside pg_tenant.context_source"),
            "{err}"
        );
        // ...and accepted when it did.
        assert_eq!(
            set(&hs(&claims(&globex), "hs-1")).0.as_deref(),
            Ok(globex.as_str())
        );
        assert_eq!(
            attempt("SELECT current_tenant_id()::text || $1", "").as_deref(),
            Ok(globex.as_str())
        );
    }
}
