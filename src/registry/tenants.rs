//! The tenant registry (`tenant.tenants`) as typed reads: a tenant's record
//! for the hot paths (cached per session, following the registry epoch),
//! tenants found by reference (id or slug) for management functions, and the
//! rules for slugs.

use crate::error::{self, Result};
use crate::names::TENANTS_TABLE;
use crate::session::cache::SessionCache;
use crate::store::{identity, lookup, spi};
use pgrx::prelude::*;
use pgrx::Uuid;
use std::cell::RefCell;
use std::rc::Rc;

/// Lifecycle state of a tenant, as stored in `tenant.tenants.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
    Deleted,
}

impl TenantStatus {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }
}

/// A tenant's row of tenant.tenants as the per-tenant hot paths need it:
/// its status for the session context, its plan and own limits for quotas.
pub struct TenantRecord {
    pub slug: String,
    pub status: TenantStatus,
    pub plan: Option<String>,
    /// Its own member, storage and API request limits (NULL: the plan's).
    pub own_limits: [Option<i64>; 3],
    /// Its own governors (the plan's apply where it has none).
    pub own_governors: super::governors::Governors,
}

/// A cache entry: the record, with its status copied beside the key.
///
/// The status check runs once per new value of `app.current_tenant` (see
/// `enforce::current::tenant`), so on a pooled connection once per
/// transaction, and meets a different tenant's entry each time, usually not
/// in the CPU's caches: reading the status from the entry itself saves
/// following the pointer to the record, one cache miss per transaction (a
/// perf profile of point reads showed each such miss costing about 0.4 µs
/// here).
struct CachedRecord {
    status: TenantStatus,
    record: Rc<TenantRecord>,
}

thread_local! {
    /// The records this session read, so that a pooled connection serving
    /// many tenants reads each tenant's row once, whether the status check or
    /// a quota check meets it first. Forgotten when the registry epoch moves on.
    static RECORDS: RefCell<SessionCache<[u8; 16], CachedRecord>> = RefCell::new(SessionCache::following_registry());
}

/// The cached record of a tenant, if this session holds one.
fn cached_record(id: &Uuid) -> Option<Rc<TenantRecord>> {
    RECORDS.with(|cache| {
        cache
            .borrow()
            .get(id.as_bytes())
            .map(|cached| cached.record.clone())
    })
}

/// The cached status of a tenant (the context's check on every statement).
pub fn cached_status(id: &Uuid) -> Option<TenantStatus> {
    RECORDS.with(|cache| {
        cache
            .borrow()
            .get(id.as_bytes())
            .map(|cached| cached.status)
    })
}

/// A tenant's record, whoever the caller is: read once per session (then
/// cached) by a primary-key lookup in tenant.tenants (`lookup`), so it neither
/// depends on nor recurses into the registry's own RLS policy. None when the
/// tenant does not exist.
pub fn record(id: Uuid) -> Result<Option<Rc<TenantRecord>>> {
    let read_at = RECORDS.with(|cache| cache.borrow().epoch_now());
    if let Some(hit) = cached_record(&id) {
        return Ok(Some(hit));
    }
    let key = *id.as_bytes();
    let row = lookup::by_primary_key(TENANTS_TABLE, &[lookup::uuid_key(&key)], |row| {
        Ok((
            row.text(c"slug")?,
            row.text(c"status")?,
            row.text(c"plan")?,
            [
                row.bigint(c"max_members")?,
                row.bigint(c"max_storage_bytes")?,
                row.bigint(c"max_api_requests_per_month")?,
            ],
            row.jsonb_added_later(c"governors")?,
        ))
    })?;
    let Some((Some(slug), Some(status), plan, own_limits, governors)) = row else {
        return Ok(None);
    };
    let Some(status) = TenantStatus::parse(&status) else {
        return Ok(None);
    };
    let own_governors = match governors {
        Some(value) => super::governors::stored(&value, &format!("tenant \"{slug}\""))?,
        None => super::governors::Governors::default(),
    };
    let record = Rc::new(TenantRecord {
        slug,
        status,
        plan,
        own_limits,
        own_governors,
    });
    let cached = CachedRecord {
        status,
        record: record.clone(),
    };
    RECORDS.with(|cache| cache.borrow_mut().insert_read_at(key, cached, read_at));
    Ok(Some(record))
}

/// A tenant as management functions see it.
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub status: TenantStatus,
}

impl Tenant {
    /// `"acme" (a0ee...)`, for messages.
    pub fn label(&self) -> String {
        format!("\"{}\" ({})", self.slug, self.id)
    }

    /// Deleted tenants are read-only until purged: refuse `action` (55000).
    pub fn refuse_if_deleted(&self, action: &str) -> Result<()> {
        if self.status == TenantStatus::Deleted {
            return Err(error::report(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("cannot {action}: tenant {} is deleted", self.label()),
                "Deleted tenants are kept read-only until they are purged.",
            ));
        }
        Ok(())
    }
}

/// Finds a tenant by reference — its UUID or its slug — whatever its status.
/// NULL raises 22004 naming the function; an unknown reference raises P0002.
pub fn find(reference: Option<&str>, function: &str) -> Result<Tenant> {
    let reference = reference.ok_or_else(|| error::null_argument(function, "t"))?;
    lookup(reference)?.ok_or_else(|| error::unknown_tenant(reference))
}

/// The tenant a reference (UUID or slug) names, if any, whatever its status.
pub fn lookup(reference: &str) -> Result<Option<Tenant>> {
    let row = identity::as_registry_owner(|| match parse_uuid(reference) {
        Some(id) => spi::three::<Uuid, String, String>(
            "SELECT id, slug, status FROM tenant.tenants WHERE id = $1",
            &[id.into()],
        ),
        None => spi::three::<Uuid, String, String>(
            "SELECT id, slug, status FROM tenant.tenants WHERE slug = lower($1)",
            &[reference.into()],
        ),
    })?;
    match row {
        Some((Some(id), Some(slug), Some(status))) => Ok(Some(Tenant {
            id,
            slug,
            status: TenantStatus::parse(&status).unwrap_or(TenantStatus::Deleted),
        })),
        _ => Ok(None),
    }
}

/// The id of a tenant reference (for options such as backfill_tenant).
pub fn resolve_reference(reference: &str) -> Result<Uuid> {
    Ok(find(Some(reference), "tenant reference")?.id)
}

/// Parses the textual forms of a UUID that Postgres' uuid type accepts
/// (including hyphens between any groups of four digits, which Postgres
/// accepts and the uuid crate does not).
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    let parsed = uuid::Uuid::try_parse(text).ok().or_else(|| {
        looks_like_uuid(text)
            .then(|| uuid::Uuid::try_parse(&text.replace('-', "")).ok())
            .flatten()
    });
    parsed.map(|u| Uuid::from_bytes(*u.as_bytes()))
}

/// Longest slug accepted (it must also fit a DNS label for subdomains).
const SLUG_MAX: usize = 63;

/// Whether `text` would be read as a tenant id: 32 hex digits once its `-`
/// are removed, which covers every spelling Postgres' uuid type accepts that
/// a slug could have (hyphens in the usual places, anywhere between groups
/// of four, or none). A slug must never look like this: a tenant reference
/// that parses as a UUID names a tenant id, so a slug spelling another
/// tenant's id would make every `t` argument act on that other tenant.
pub fn looks_like_uuid(text: &str) -> bool {
    let mut digits = 0;
    for b in text.bytes() {
        match b {
            b'-' => {}
            b if b.is_ascii_hexdigit() => digits += 1,
            _ => return false,
        }
    }
    digits == 32
}

/// A slug is lower-case ASCII letters and digits in words joined by single
/// `-`, and does not look like a UUID.
pub fn is_valid_slug(slug: &str) -> bool {
    !looks_like_uuid(slug) && is_slug_shaped(slug)
}

fn is_slug_shaped(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= SLUG_MAX
        && slug.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Derives a slug from a display name: accents folded to ASCII, everything that
/// is not a letter or digit becomes a word break, words joined by `-`.
/// Leaves room for a uniqueness suffix (`-2`, `-3`, ...).
pub fn slugify(name: &str) -> String {
    const ROOM_FOR_SUFFIX: usize = 8;
    let mut slug = String::new();
    let mut word_break = false;
    for ch in name.chars().flat_map(fold_to_ascii) {
        if ch.is_ascii_alphanumeric() {
            if word_break && !slug.is_empty() {
                slug.push('-');
            }
            word_break = false;
            slug.push(ch.to_ascii_lowercase());
        } else {
            word_break = true;
        }
    }
    slug.truncate(SLUG_MAX - ROOM_FOR_SUFFIX);
    let mut slug = slug.trim_end_matches('-').to_string();
    if looks_like_uuid(&slug) {
        // Never derive a slug that would read as a tenant id ("tenant-" holds
        // letters that are not hex digits, so the result never does).
        slug.insert_str(0, "tenant-");
        slug.truncate(SLUG_MAX - ROOM_FOR_SUFFIX);
        slug = slug.trim_end_matches('-').to_string();
    }
    if slug.is_empty() {
        "tenant".to_string()
    } else {
        slug
    }
}

/// Folds the common Latin accented letters to ASCII so that "Café Crème"
/// becomes "cafe-creme" rather than losing letters.
fn fold_to_ascii(ch: char) -> Vec<char> {
    let folded = match ch {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'œ' | 'Œ' => "oe",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ß' => "ss",
        _ => return vec![ch],
    };
    folded.chars().collect()
}

/// Picks `base`, or `base-2`, `base-3`, ... whichever is not taken yet.
pub fn unique_slug(base: &str) -> Result<String> {
    for n in 1.. {
        let candidate = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        // "<31 hex digits>-2" would read as a tenant id: skip such suffixes.
        if looks_like_uuid(&candidate) {
            continue;
        }
        if !slug_taken(&candidate)? {
            return Ok(candidate);
        }
    }
    unreachable!("an unbounded range always yields a free slug")
}

fn slug_taken(slug: &str) -> Result<bool> {
    Ok(spi::one::<bool>(
        "SELECT EXISTS (SELECT FROM tenant.tenants WHERE slug = $1)",
        &[slug.into()],
    )?
    .unwrap_or(false))
}

/// An explicit slug must be well-formed and free.
pub fn checked_new_slug(slug: &str) -> Result<String> {
    if looks_like_uuid(slug) {
        return Err(error::invalid_parameter(
            format!(
                "\"{}\" cannot be a tenant slug: it reads as a tenant id",
                error::shorten(slug)
            ),
            "Every tenant reference that parses as a UUID names a tenant id, so a slug may not look like one. Choose a slug with other letters, or pass NULL to derive one from the name.",
        ));
    }
    if !is_valid_slug(slug) {
        return Err(error::invalid_parameter(
            format!("\"{}\" is not a valid tenant slug", error::shorten(slug)),
            format!(
                "Use lower-case ASCII letters and digits in words joined by single \"-\", at most {SLUG_MAX} characters, e.g. \"{}\".",
                slugify(slug)
            ),
        ));
    }
    if slug_taken(slug)? {
        return Err(error::report(
            PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
            format!("a tenant with slug \"{slug}\" already exists"),
            "Choose another slug, or pass NULL to derive a unique one from the name.",
        ));
    }
    Ok(slug.to_string())
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn slugify_joins_words_with_dashes() {
        assert_eq!(slugify("Acme Corp"), "acme-corp");
        assert_eq!(
            slugify("  Globex -- International!! "),
            "globex-international"
        );
        assert_eq!(slugify("Café Crème"), "cafe-creme");
        assert_eq!(slugify("Ärzte & Söhne"), "arzte-sohne");
        assert_eq!(slugify("日本"), "tenant");
        assert_eq!(slugify("A1 B2"), "a1-b2");
    }

    #[test]
    fn slugify_leaves_room_for_a_suffix() {
        let slug = slugify(&"word ".repeat(40));
        assert!(slug.len() <= SLUG_MAX - 8, "{slug}");
        assert!(is_valid_slug(&slug));
    }

    #[test]
    fn valid_slugs() {
        for ok in ["acme", "acme-corp", "a1", "x-2-y"] {
            assert!(is_valid_slug(ok), "{ok}");
        }
        for bad in [
            "",
            "Acme",
            "-acme",
            "acme-",
            "ac--me",
            "ac_me",
            "ac me",
            "é",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn slugs_never_look_like_tenant_ids() {
        for uuidish in [
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
        ] {
            assert!(looks_like_uuid(uuidish), "{uuidish}");
            assert!(!is_valid_slug(uuidish), "{uuidish}");
            let derived = slugify(uuidish);
            assert!(!looks_like_uuid(&derived), "{derived}");
            assert!(is_valid_slug(&derived), "{derived}");
        }
        // Derived from a display name that spells an id in capitals and spaces.
        let derived = slugify("A0EEBC99 9C0B 4EF8 BB6D 6BB9BD380A11");
        assert!(is_valid_slug(&derived), "{derived}");
        for fine in [
            "acme",
            "deadbeef",
            "a0eebc999c0b4ef8bb6d6bb9bd380a1",
            "cafe-babe-2",
        ] {
            assert!(!looks_like_uuid(fine), "{fine}");
        }
    }

    #[test]
    fn parse_uuid_accepts_postgres_forms_only() {
        assert!(parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").is_some());
        assert!(parse_uuid("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11").is_some());
        assert!(parse_uuid("a0eebc999c0b4ef8bb6d6bb9bd380a11").is_some());
        assert_eq!(
            parse_uuid("a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11"),
            parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        );
        assert!(parse_uuid("acme").is_none());
        assert!(parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1").is_none());
        assert!(parse_uuid("").is_none());
    }
}
