//! Per-tenant settings (`tenant.settings`) under dotted keys, readable as one
//! nested JSON document: `branding.logo_url` and `branding.color` become
//! `{"branding": {"logo_url": ..., "color": ...}}`.

use crate::enforce::{authz, current};
use crate::error::{self, Result};
use crate::registry::roles::Role;
use crate::store::{identity, spi};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{Map, Value};

const KEY_MAX: usize = 200;

/// Keys are dot-separated words of lower-case letters, digits, `_` and `-`.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= KEY_MAX
        && key.split('.').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

fn key_argument(key: Option<&str>, function: &str) -> Result<String> {
    let key = key.ok_or_else(|| error::null_argument(function, "key"))?;
    if !is_valid_key(key) {
        return Err(error::invalid_parameter(
            format!("\"{}\" is not a valid setting key", error::shorten(key)),
            format!(
                "Use dot-separated words of lower-case letters, digits, _ and -, at most {KEY_MAX} characters, e.g. branding.logo_url."
            ),
        ));
    }
    Ok(key.to_string())
}

/// Builds the nested document from (dotted key, value) pairs. Keys never
/// conflict (a key is never both a value and a prefix of another key:
/// `tenant_setting_set` refuses that), so insertion order does not matter.
pub fn nest(pairs: Vec<(String, Value)>) -> Value {
    let mut root = Map::new();
    for (key, value) in pairs {
        let mut words: Vec<&str> = key.split('.').collect();
        let last = words.pop().unwrap_or_default();
        let mut node = &mut root;
        for word in words {
            let child = node
                .entry(word.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            node = child.as_object_mut().expect("just made an object");
        }
        node.insert(last.to_string(), value);
    }
    Value::Object(root)
}

/// Strips `prefix.` from nested keys so a subtree nests from its own root.
fn relative_to(prefix: &str, pairs: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let cut = prefix.len() + 1;
    pairs
        .into_iter()
        .map(|(key, value)| (key[cut..].to_string(), value))
        .collect()
}

/// Reads settings rows of a tenant as the caller (RLS decides visibility).
fn read_pairs(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Vec<(String, Value)>> {
    Ok(spi::pairs::<String, JsonB>(sql, args)?
        .into_iter()
        .map(|(key, value)| (key, value.0))
        .collect())
}

/// `tenant_setting_get(key)`: the current tenant's value for `key`; for a key
/// that only prefixes others (`branding`), the nested object under it; NULL
/// when unset or when no tenant is in context.
#[pg_extern(stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_setting_get(key: Option<&str>) -> Result<Option<JsonB>> {
    let key = key_argument(key, "tenant_setting_get")?;
    let Some(tenant) = current::tenant()? else {
        return Ok(None);
    };
    let pairs = read_pairs(
        "SELECT key, value FROM tenant.settings
          WHERE tenant_id = $1 AND (key = $2 OR left(key, length($2) + 1) = $2 || '.')",
        &[tenant.into(), key.as_str().into()],
    )?;
    if let Some((_, value)) = pairs.iter().find(|(k, _)| *k == key) {
        return Ok(Some(JsonB(value.clone())));
    }
    if pairs.is_empty() {
        return Ok(None);
    }
    Ok(Some(JsonB(nest(relative_to(&key, pairs)))))
}

/// `tenant_settings(t)`: all of a tenant's settings as one nested document.
/// Reads as the caller: an application sees its current tenant's settings,
/// operators every tenant's. For an application, any other reference
/// (existing or not) shows an empty document, as RLS would.
#[pg_extern(stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_settings(t: Option<&str>) -> Result<JsonB> {
    let Some(tenant) = authz::visible(t, "tenant_settings")? else {
        return Ok(JsonB(nest(Vec::new())));
    };
    let pairs = read_pairs(
        "SELECT key, value FROM tenant.settings WHERE tenant_id = $1 ORDER BY key",
        &[tenant.id.into()],
    )?;
    Ok(JsonB(nest(pairs)))
}

/// `tenant_setting_set(t, key, value)`: sets one setting (JSON null is a
/// value; SQL NULL is refused: use tenant_setting_unset).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_setting_set(t: Option<&str>, key: Option<&str>, value: Option<JsonB>) -> Result<()> {
    let (tenant, _) = authz::authorize(t, "tenant_setting_set", Role::Admin, "changing settings")?;
    let key = key_argument(key, "tenant_setting_set")?;
    let value = value.ok_or_else(|| error::null_argument("tenant_setting_set", "value"))?;
    tenant.refuse_if_deleted("change settings")?;
    identity::as_registry_owner(|| {
        refuse_conflicting_key(tenant.id, &key)?;
        spi::execute(
            "INSERT INTO tenant.settings (tenant_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            &[tenant.id.into(), key.as_str().into(), value.into()],
        )
    })
}

/// A key cannot hold a value and nested keys at once: `branding` and
/// `branding.logo_url` would not fit in one JSON document.
fn refuse_conflicting_key(tenant: pgrx::Uuid, key: &str) -> Result<()> {
    let clash = spi::one::<String>(
        "SELECT key FROM tenant.settings
          WHERE tenant_id = $1
            AND (left($2, length(key) + 1) = key || '.' OR left(key, length($2) + 1) = $2 || '.')
          ORDER BY key LIMIT 1",
        &[tenant.into(), key.into()],
    )?;
    match clash {
        None => Ok(()),
        Some(other) => Err(error::invalid_parameter(
            format!("setting \"{key}\" conflicts with existing setting \"{other}\""),
            "A key cannot hold a value and nested keys at once; unset one of them first with tenant_setting_unset.",
        )),
    }
}

/// `tenant_setting_unset(t, key)`: removes the key, or every key nested under
/// it; returns whether anything was removed.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn tenant_setting_unset(t: Option<&str>, key: Option<&str>) -> Result<bool> {
    let (tenant, _) =
        authz::authorize(t, "tenant_setting_unset", Role::Admin, "changing settings")?;
    let key = key_argument(key, "tenant_setting_unset")?;
    let removed = identity::as_registry_owner(|| {
        spi::execute_one::<i64>(
            "WITH gone AS (DELETE FROM tenant.settings
                            WHERE tenant_id = $1 AND (key = $2 OR left(key, length($2) + 1) = $2 || '.')
                           RETURNING 1)
             SELECT count(*) FROM gone",
            &[tenant.id.into(), key.as_str().into()],
        )
    })?;
    Ok(removed.unwrap_or(0) > 0)
}

#[cfg(test)]
mod unit_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_keys_nest() {
        let doc = nest(vec![
            ("branding.logo_url".into(), json!("https://x/logo.png")),
            ("branding.colors.primary".into(), json!("#123456")),
            ("features".into(), json!(["a", "b"])),
        ]);
        assert_eq!(
            doc,
            json!({"branding": {"logo_url": "https://x/logo.png", "colors": {"primary": "#123456"}}, "features": ["a", "b"]})
        );
    }

    #[test]
    fn subtrees_nest_from_their_own_root() {
        let pairs = relative_to(
            "branding",
            vec![
                ("branding.logo_url".into(), json!(1)),
                ("branding.a.b".into(), json!(2)),
            ],
        );
        assert_eq!(nest(pairs), json!({"logo_url": 1, "a": {"b": 2}}));
    }

    #[test]
    fn keys_are_validated() {
        for ok in ["theme", "branding.logo_url", "a.b-c.d_e", "x1"] {
            assert!(is_valid_key(ok), "{ok}");
        }
        for bad in [
            "",
            "Theme",
            "a..b",
            ".a",
            "a.",
            "a b",
            "a/b",
            &"k".repeat(201),
        ] {
            assert!(!is_valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn a_long_bad_key_is_shortened_in_the_error() {
        let huge = "K".repeat(100_000);
        let err = key_argument(Some(&huge), "tenant_setting_get").unwrap_err();
        assert!(err.message().len() < 200, "{}", err.message().len());
        assert!(err.message().ends_with("...\" is not a valid setting key"));
        assert_eq!(
            key_argument(Some("branding.logo_url"), "tenant_setting_get").unwrap(),
            "branding.logo_url"
        );
    }
}
