//! Adoption: the tenant RLS that other tools (Better Tenant's `tenant-cli
//! migrate`) or hand-written migrations leave on a table, which
//! `tenant_enable` replaces with its own, saying so in the SQL it returns:
//! - permissive policies that match `tenant_id` against a setting
//!   (`current_setting(...)`), with or without an OR-ed bypass any role can
//!   switch on (`rls_tenant_<t>`): pg_tenant's `tenant_isolation` and
//!   `tenant_bypass` take their place. Dropping a permissive policy can only
//!   narrow who sees what; restrictive ones are kept (dropping one would
//!   widen access);
//! - BEFORE INSERT row triggers whose function fills `NEW.tenant_id` from a
//!   setting (`set_tenant_id_trigger`): `tenant_set_id` does it, and raises
//!   pg_tenant's error where theirs casts `''` and raises 22P02. The function
//!   is left alone (other tables may use it);
//! - a default of `tenant_id` that reads a setting (`(current_setting(
//!   'app.current_tenant', true))::uuid`), which turns a missing tenant into
//!   22P02 before `tenant_set_id` can report it.

use super::node_tree;
use super::state::{self, TableState};
use crate::error::Result;
use crate::names::{FILL_TRIGGER, TENANT_COLUMN};
use crate::store::spi;
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;

/// `pg_proc` OIDs of `current_setting(text)` and `current_setting(text,
/// boolean)`, the same in every Postgres version.
const CURRENT_SETTING: [u32; 2] = [2077, 3294];

/// `tgtype` bits: ROW, BEFORE, INSERT; DELETE, UPDATE, TRUNCATE.
const ROW_BEFORE_INSERT: i16 = 1 | 2 | 4;
const OTHER_EVENTS: i16 = 8 | 16 | 32;

const TRIGGERS: &str = "SELECT t.tgname::pg_catalog.text, t.tgtype, f.prosrc,
        pg_catalog.quote_ident(n.nspname::pg_catalog.text) || '.' || pg_catalog.quote_ident(f.proname::pg_catalog.text)
   FROM pg_catalog.pg_trigger t
   JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid
   JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace
  WHERE t.tgrelid = $1::pg_catalog.int8::pg_catalog.oid AND NOT t.tgisinternal AND t.tgparentid = 0
  ORDER BY t.tgname";

const TENANT_DEFAULT: &str = "SELECT d.adbin::pg_catalog.text FROM pg_catalog.pg_attrdef d
  WHERE d.adrelid = $1::pg_catalog.int8::pg_catalog.oid AND d.adnum = $2";

/// The statements that remove what `tenant_enable` replaces, each led by a
/// comment saying what it was; empty when there is nothing to adopt.
pub fn statements(table: &TableState) -> Result<Vec<String>> {
    let Some(column) = &table.column else {
        return Ok(Vec::new());
    };
    let t = &table.qualified_name;
    let mut sql = Vec::new();
    let candidates: Vec<_> = table.foreign_policies().filter(|p| p.permissive).collect();
    let trees = state::policy_trees(&candidates.iter().map(|p| p.oid).collect::<Vec<_>>())?;
    for policy in candidates {
        let Some((using, with_check)) = trees.get(&policy.oid) else {
            continue;
        };
        let parsed: Vec<_> = [using, with_check]
            .into_iter()
            .flatten()
            .filter_map(|tree| node_tree::parse(tree))
            .collect();
        let reads_setting = parsed
            .iter()
            .any(|p| node_tree::calls_any(p, &CURRENT_SETTING));
        let reads_tenant = parsed
            .iter()
            .any(|p| node_tree::references_column(p, column.attnum));
        if reads_setting && reads_tenant {
            sql.push(format!(
                "-- pg_tenant adopts {}: policy {} matched {TENANT_COLUMN} against a setting; tenant_isolation and tenant_bypass replace it\n\
                 DROP POLICY {} ON {t}",
                one_line(t),
                one_line(&quote_identifier(&policy.name)),
                quote_identifier(&policy.name)
            ));
        }
    }
    for (name, kind, source, function) in triggers(table.oid)? {
        let fills_tenant = kind & ROW_BEFORE_INSERT == ROW_BEFORE_INSERT
            && kind & OTHER_EVENTS == 0
            && fills_tenant_from_setting(&source);
        if name != FILL_TRIGGER && fills_tenant {
            sql.push(format!(
                "-- pg_tenant adopts {}: trigger {} ({}) filled {TENANT_COLUMN} from a setting; tenant_set_id replaces it (the function is kept)\n\
                 DROP TRIGGER {} ON {t}",
                one_line(t),
                one_line(&quote_identifier(&name)),
                one_line(&function),
                quote_identifier(&name)
            ));
        }
    }
    let default = spi::one::<String>(TENANT_DEFAULT, &[table.oid.into(), column.attnum.into()])?;
    if default
        .as_deref()
        .and_then(node_tree::parse)
        .is_some_and(|tree| node_tree::calls_any(&tree, &CURRENT_SETTING))
    {
        sql.push(format!(
            "-- pg_tenant adopts {}: the default of {TENANT_COLUMN} read a setting (a missing tenant became 22P02); tenant_set_id fills it\n\
             ALTER TABLE {t} ALTER COLUMN {TENANT_COLUMN} DROP DEFAULT",
            one_line(t)
        ));
    }
    Ok(sql)
}

/// Whether a trigger function's source does nothing but fill `NEW.tenant_id`
/// from a setting (Better Tenant's `set_tenant_id()` and its hand-written
/// kin): statements that assign `NEW.tenant_id` from `current_setting(...)`,
/// possibly under an `IF`, and `RETURN NEW`. A function that does anything
/// else as well (validates, raises, stamps another column) is not adopted:
/// dropping its trigger would drop that too.
fn fills_tenant_from_setting(source: &str) -> bool {
    let text = without_comments(source).to_lowercase().replace('"', "");
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(body) = text
        .strip_prefix("begin ")
        .and_then(|b| b.trim_end_matches(';').trim_end().strip_suffix(" end"))
    else {
        return false;
    };
    let assignment = |s: &str| {
        [":=", "="].iter().any(|op| {
            s.strip_prefix(&format!("new.{TENANT_COLUMN} {op} "))
                .or_else(|| s.strip_prefix(&format!("new.{TENANT_COLUMN}{op}")))
                .is_some_and(|value| {
                    value.contains("current_setting(") && !value.contains(" into ")
                })
        })
    };
    let mut assigns = false;
    for statement in body.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let statement = match statement
            .strip_prefix("if ")
            .and_then(|s| s.split_once(" then "))
        {
            Some((_condition, rest)) => rest.trim(),
            None => statement,
        };
        if assignment(statement) {
            assigns = true;
        } else if statement != "return new" && statement != "end if" {
            return false;
        }
    }
    assigns
}

/// PL/pgSQL source without `--` and `/* */` comments (string literals are
/// not looked into: a comment marker inside one only makes the source look
/// like more than a fill, and it is then not adopted).
fn without_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
            out.push(' ');
        } else {
            let ch = rest.chars().next().unwrap_or(' ');
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    out
}

/// Text for a `--` comment: a name may hold a line break, which would end
/// the comment and make the rest of the name SQL.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// (name, tgtype, function source, function name) of the table's triggers.
fn triggers(relid: i64) -> Result<Vec<(String, i16, String, String)>> {
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(TRIGGERS, None, &[relid.into()])? {
            out.push((
                row.get::<String>(1)?.unwrap_or_default(),
                row.get::<i16>(2)?.unwrap_or_default(),
                row.get::<String>(3)?.unwrap_or_default(),
                row.get::<String>(4)?.unwrap_or_default(),
            ));
        }
        Ok(out)
    })
    .map_err(crate::error::internal)
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn recognises_fill_functions() {
        // Better Tenant's set_tenant_id(), as tenant-cli migrate writes it.
        assert!(fills_tenant_from_setting(
            "BEGIN\n  IF NEW.tenant_id IS NULL AND current_setting('app.current_tenant', true) IS NOT NULL THEN\n    NEW.tenant_id := current_setting('app.current_tenant', true)::uuid;\n  END IF;\n  RETURN NEW;\nEND;"
        ));
        assert!(fills_tenant_from_setting(
            "begin new.\"tenant_id\" = current_setting('app.tenant')::uuid; return new; end"
        ));
        // Reading the column is not filling it; filling from elsewhere is not adoption.
        assert!(!fills_tenant_from_setting(
            "BEGIN IF NEW.tenant_id IS NULL THEN RAISE 'no tenant'; END IF; RETURN NEW; END"
        ));
        assert!(!fills_tenant_from_setting(
            "BEGIN NEW.tenant_id := (SELECT id FROM orgs LIMIT 1); RETURN NEW; END"
        ));
        // A fill that also enforces or stamps something else is kept.
        assert!(!fills_tenant_from_setting(
            "BEGIN IF current_setting('app.read_only', true) = 'on' THEN RAISE 'read only'; END IF; \
             NEW.tenant_id := current_setting('app.current_tenant')::uuid; RETURN NEW; END"
        ));
        assert!(!fills_tenant_from_setting(
            "BEGIN NEW.tenant_id := current_setting('app.current_tenant')::uuid; NEW.created_by := current_user; RETURN NEW; END"
        ));
        // Comments do not count, either way.
        assert!(fills_tenant_from_setting(
            "BEGIN -- fill NEW.tenant_id\n NEW.tenant_id := current_setting('app.tenant')::uuid; /* done */ RETURN NEW; END;"
        ));
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(one_line("\"a\nDROP TABLE x\""), "\"a?DROP TABLE x\"");
    }
}
