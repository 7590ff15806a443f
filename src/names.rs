//! The names pg_tenant gives things, in one place: the session settings it
//! reads, the column, policies and triggers it puts on tenant-scoped tables,
//! and the schema of its registry. Every layer may use them.

use std::ffi::CStr;

/// The tenant a transaction acts for (a UUID).
pub const TENANT_SETTING: &CStr = c"app.current_tenant";
/// The application user a transaction acts for (a UUID).
pub const USER_SETTING: &CStr = c"app.current_user_id";
/// A transaction's request for cross-tenant access (a boolean).
pub const BYPASS_SETTING: &CStr = c"app.bypass_rls";
/// Why a transaction uses the bypass (text, required with it).
pub const BYPASS_REASON_SETTING: &CStr = c"app.bypass_reason";

/// The schema of pg_tenant's registry tables.
pub const REGISTRY_SCHEMA: &CStr = c"tenant";
/// The registry's table of tenants, whose relcache invalidation tells every
/// session that the registry changed.
pub const TENANTS_TABLE: &CStr = c"tenants";

/// The column that holds a row's tenant in every tenant-scoped table.
pub const TENANT_COLUMN: &str = "tenant_id";
/// The same name for C APIs (must stay equal to TENANT_COLUMN).
pub const TENANT_COLUMN_C: &CStr = c"tenant_id";
/// The policy that shows a session its own tenant's rows only.
pub const ISOLATION_POLICY: &str = "tenant_isolation";
/// The policy that lets members of `tenant_bypass` that ask see every tenant.
pub const BYPASS_POLICY: &str = "tenant_bypass";
/// The BEFORE INSERT trigger (and its function) that fills tenant_id.
pub const FILL_TRIGGER: &str = "tenant_set_id";
/// The statement trigger function that counts usage, and its transition tables.
pub const USAGE_TRIGGER_FUNCTION: &str = "tenant_count_usage";
pub const NEW_ROWS: &str = "tenant_new_rows";
pub const OLD_ROWS: &str = "tenant_old_rows";

/// Splits `schema.table` as Postgres quotes it (`quote_identifier` on each
/// part, as `tenant.audit_log.relation` holds it) into its two names, the
/// quotes removed; None for anything else. Never raises: the audit log's
/// read policy calls it on every entry.
pub fn split_qualified(text: &str) -> Option<(String, String)> {
    fn one(rest: &str) -> Option<(String, &str)> {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut name = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                if c != '"' {
                    name.push(c);
                    continue;
                }
                if quoted[i + 1..].starts_with('"') {
                    name.push('"');
                    chars.next();
                    continue;
                }
                return Some((name, &quoted[i + 1..]));
            }
            return None;
        }
        let end = rest.find('.').unwrap_or(rest.len());
        let name = &rest[..end];
        (!name.is_empty() && !name.contains('"')).then(|| (name.to_string(), &rest[end..]))
    }
    let (schema, rest) = one(text)?;
    let (table, rest) = one(rest.strip_prefix('.')?)?;
    rest.is_empty().then_some((schema, table))
}

#[cfg(test)]
mod unit_tests {
    use super::split_qualified;

    #[test]
    fn qualified_names_split_as_quoted() {
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(split_qualified("public.docs"), pair("public", "docs"));
        assert_eq!(
            split_qualified("\"My Schema\".\"a.b\"\"c\""),
            pair("My Schema", "a.b\"c")
        );
        assert_eq!(split_qualified("hr.\"Salaries\""), pair("hr", "Salaries"));
        assert_eq!(split_qualified("docs"), None);
        assert_eq!(split_qualified("a.b.c"), None);
        assert_eq!(split_qualified("\"open.docs"), None);
        assert_eq!(split_qualified(".docs"), None);
        assert_eq!(split_qualified("a."), None);
    }
}
