//! Checks 3 to 12 (with 3b and 6b): the quiet ways tenant data leaks around
//! correct policies. Each runs one set-based query over all tenant-scoped
//! tables.

use super::{flag, ok_when_empty, rows, rows_with, text, Finding, Status};
use crate::error::Result;
use crate::names::{BYPASS_POLICY, ISOLATION_POLICY, TENANT_COLUMN};
use crate::store::spi;
use crate::tables::node_tree;
use crate::tables::plan::{is_expected_bypass_policy, is_expected_isolation_policy, Expressions};
use crate::tables::state::TableState;
use pgrx::prelude::*;
use pgrx::spi::{quote_identifier, quote_literal};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

// The check queries, in sql/queries/check/ (read at compile time).
// `relatives (relid, origin, below)`: every relation that shares rows with a
// tenant-scoped table (`origin`) through pg_inherits, at any depth, and is
// not tenant-scoped itself: its partitions and inheritance children
// (`below`), whose rows are the origin's, and its parents, which read the
// origin's rows. Either way the origin's policies do not apply when the
// relative is queried by name. A WITH RECURSIVE list item.
// It is sql/queries/check/relatives.sql; the queries that use it follow it.
const FORGOTTEN_TABLES_SQL: &str = concat!(
    include_str!("../../sql/queries/check/relatives.sql"),
    include_str!("../../sql/queries/check/forgotten_tables.sql")
);
const PARTITIONS_WITHOUT_ISOLATION_SQL: &str = concat!(
    include_str!("../../sql/queries/check/relatives.sql"),
    include_str!("../../sql/queries/check/partitions_without_isolation.sql")
);
const UNIQUE_WITHOUT_TENANT_SQL: &str =
    include_str!("../../sql/queries/check/unique_without_tenant.sql");
const EXCLUSIONS_WITHOUT_TENANT_SQL: &str =
    include_str!("../../sql/queries/check/exclusions_without_tenant.sql");
const FOREIGN_KEYS_WITHOUT_TENANT_SQL: &str =
    include_str!("../../sql/queries/check/foreign_keys_without_tenant.sql");
const VIEW_EDGES_SQL: &str = include_str!("../../sql/queries/check/view_edges.sql");
const VIEWS_WITH_OWNER_RIGHTS_SQL: &str =
    include_str!("../../sql/queries/check/views_with_owner_rights.sql");
const DEFINER_FUNCTIONS_SQL: &str = include_str!("../../sql/queries/check/definer_functions.sql");
const BYPASSING_LOGIN_ROLES_SQL: &str =
    include_str!("../../sql/queries/check/bypassing_login_roles.sql");
const RISKY_GRANTS_SQL: &str = include_str!("../../sql/queries/check/risky_grants.sql");
const SERIAL_COLUMNS_SQL: &str = include_str!("../../sql/queries/check/serial_columns.sql");

pub fn check_all(states: &[TableState]) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    findings.extend(forgotten_tables()?);
    findings.extend(partitions_without_isolation()?);
    findings.extend(widening_policies(states));
    findings.extend(per_row_calls(states)?);
    findings.extend(unique_without_tenant()?);
    findings.extend(exclusions_without_tenant()?);
    findings.extend(foreign_keys_without_tenant()?);
    findings.extend(views_with_owner_rights(states)?);
    findings.extend(definer_functions()?);
    findings.extend(bypassing_login_roles()?);
    findings.extend(risky_grants()?);
    findings.extend(serial_columns()?);
    Ok(findings)
}

/// Check 3: tables with a tenant_id column that tenant_enable never saw
/// (partitions and other relatives of tenant-scoped tables are check 3b's).
fn forgotten_tables() -> Result<Vec<Finding>> {
    let schema = spi::extension_schema()?;
    let mut findings = rows(FORGOTTEN_TABLES_SQL, 2, |v| {
        let t = text(v, 0);
        if text(v, 1) == "m" {
            // A materialized view holds what its owner read at its last
            // refresh, every tenant's rows when the owner bypasses RLS (or
            // reached them through a function), and RLS never applies to it.
            return Finding::new(
                "forgotten_table",
                &t,
                Status::Fail,
                "materialized view with a tenant_id column: it holds the rows its owner read at its last refresh, without RLS, and shows every reader all of them",
            )
            .fix(&[format!(
                "-- replace it with a tenant-scoped table refreshed by a job, or a view; meanwhile REVOKE ALL ON {t} FROM <application roles>"
            )]);
        }
        Finding::new(
                "forgotten_table",
                &t,
                Status::Fail,
                "has a tenant_id column but is not tenant-scoped: every tenant's rows are visible to every session",
            )
            .fix(&[format!("SELECT {schema}.tenant_enable({})", quote_literal(&t))])
    })?;
    ok_when_empty(
        "forgotten_table",
        &mut findings,
        "every table with a tenant_id column is tenant-scoped",
    );
    Ok(findings)
}

/// Check 3b: partitions, inheritance children and parents of tenant-scoped
/// tables without pg_tenant's isolation of their own. Queried by name, a
/// relation applies its own policies only, not those of the tenant-scoped
/// table whose rows it holds or reads. Fails when a role other than the
/// owner (and roles that bypass RLS anyway) holds a privilege on it, on the
/// table or a column; warns otherwise, since one grant would expose every
/// tenant. Relatives isolated by hand (RLS enabled and forced, pg_tenant's
/// tenant_isolation, no other permissive policy) are ok.
fn partitions_without_isolation() -> Result<Vec<Finding>> {
    let schema = spi::extension_schema()?;
    let isolation = Expressions::for_extension()?.isolation_deparsed();
    let mut findings = rows_with(
        PARTITIONS_WITHOUT_ISOLATION_SQL,
        &[
            TENANT_COLUMN.into(),
            isolation.as_str().into(),
            ISOLATION_POLICY.into(),
            BYPASS_POLICY.into(),
        ],
        9,
        |v| {
            let (relation, kind, origins, holders, grantees) =
                (text(v, 0), text(v, 1), text(v, 4), text(v, 5), text(v, 6));
            let (partition, below, has_column, isolated) =
                (flag(v, 2), flag(v, 3), flag(v, 7), flag(v, 8));
            let what = match (below, partition) {
                (true, true) => "partition",
                (true, false) => "inheritance child",
                (false, _) => "parent",
            };
            if isolated {
                return Finding::new(
                    "partition_without_isolation",
                    &relation,
                    Status::Ok,
                    format!("{what} of tenant-scoped {origins}: not tenant-scoped itself, but RLS is enabled and forced with pg_tenant's tenant_isolation policy"),
                );
            }
            let (status, detail) = match (below, grantees.is_empty()) {
                (true, false) => (Status::Fail, format!("{what} of tenant-scoped {origins} without pg_tenant's isolation: {holders} may use it directly, where the policies of {origins} do not apply, and reach every tenant's rows")),
                (true, true) => (Status::Warn, format!("{what} of tenant-scoped {origins} without pg_tenant's isolation: used directly, it does not apply the policies of {origins}; only its owner may use it now, but a grant on it would expose every tenant's rows")),
                (false, false) => (Status::Fail, format!("parent of tenant-scoped {origins} without pg_tenant's isolation: {holders} may query it, and it reads the rows of {origins}, every tenant's, without their policies")),
                (false, true) => (Status::Warn, format!("parent of tenant-scoped {origins} without pg_tenant's isolation: it reads the rows of {origins} without their policies; only its owner may query it now, but a grant on it would expose every tenant's rows")),
            };
            let revoke = format!("REVOKE ALL ON {relation} FROM {grantees}");
            let mut fix = Vec::new();
            if has_column && (kind == "r" || kind == "p") {
                // Counted, it counts on the counted relative above it (if any).
                fix.push(format!(
                    "SELECT {schema}.tenant_enable({})",
                    quote_literal(&relation)
                ));
                if !grantees.is_empty() {
                    fix.push(format!("-- or, instead, take away direct access: {revoke}"));
                }
            } else {
                if !grantees.is_empty() {
                    fix.push(revoke);
                }
                fix.push(format!("-- tenant_enable cannot isolate it (no tenant_id column, or not a table): keep applications off it, or detach it from {origins}"));
            }
            Finding::new("partition_without_isolation", &relation, status, detail).fix(&fix)
        },
    )?;
    ok_when_empty(
        "partition_without_isolation",
        &mut findings,
        "no partition, inheritance child or parent of a tenant-scoped table lacks its isolation",
    );
    Ok(findings)
}

/// Check 4: any other permissive policy is OR-ed with tenant_isolation and
/// widens what a session sees (restrictive policies can only narrow it).
fn widening_policies(states: &[TableState]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for table in states {
        for policy in table.foreign_policies().filter(|p| p.permissive) {
            let object = format!("{} policy {}", table.qualified_name, policy.name);
            let detail = format!(
                "permissive policy OR-ed with tenant_isolation (roles {}, USING {}): it widens access beyond the current tenant",
                policy.roles.join(","),
                policy.using.as_deref().unwrap_or("none")
            );
            let mut fix = vec![format!(
                "DROP POLICY {} ON {}",
                quote_identifier(&policy.name),
                table.qualified_name
            )];
            fix.push(format!(
                "-- recreate it AS RESTRICTIVE if it is meant to narrow access: CREATE POLICY {} ON {} AS RESTRICTIVE ...",
                quote_identifier(&policy.name),
                table.qualified_name
            ));
            findings.push(Finding::new("widening_policy", object, Status::Fail, detail).fix(&fix));
        }
    }
    ok_when_empty(
        "widening_policy",
        &mut findings,
        "no permissive policy besides pg_tenant's",
    );
    findings
}

/// Check 5: a STABLE function called on no column, outside a sub-select,
/// runs once per row; `(SELECT f())` runs it once per statement. One finding
/// per policy and function, whichever clauses call it and however often,
/// with one ALTER POLICY that wraps every such call.
fn per_row_calls(states: &[TableState]) -> Result<Vec<Finding>> {
    let exprs = Expressions::for_extension()?;
    // pg_tenant's own policies, as installed, call functions in sub-selects
    // only: their trees are not read at all (thousands of tables stay cheap).
    let examined: Vec<i64> = states
        .iter()
        .flat_map(|t| t.policies.iter())
        .filter(|p| {
            !is_expected_isolation_policy(p, &exprs) && !is_expected_bypass_policy(p, &exprs)
        })
        .map(|p| p.oid)
        .collect();
    let trees = crate::tables::state::policy_trees(&examined)?;
    let mut findings = Vec::new();
    for table in states {
        for policy in &table.policies {
            let Some((using_tree, with_check_tree)) = trees.get(&policy.oid) else {
                continue;
            };
            let clauses = [
                ("USING", &policy.using, using_tree),
                ("WITH CHECK", &policy.with_check, with_check_tree),
            ];
            // (function, the clauses that call it), in order of appearance.
            let mut calls: Vec<(String, Vec<&str>)> = Vec::new();
            for (clause, _, tree) in &clauses {
                let Some(parsed) = tree.as_ref().and_then(|t| node_tree::parse(t)) else {
                    continue;
                };
                for (name, volatility) in
                    function_names(&node_tree::per_row_constant_calls(&parsed))?
                {
                    if volatility != "s" {
                        continue; // immutable calls are folded at plan time; volatile ones must run per row
                    }
                    match calls.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, found)) if !found.contains(clause) => found.push(clause),
                        Some(_) => {}
                        None => calls.push((name, vec![clause])),
                    }
                }
            }
            for (name, in_clauses) in calls {
                let object = format!("{} policy {}", table.qualified_name, policy.name);
                let (verb, subject) = if in_clauses.len() == 1 {
                    ("calls", in_clauses[0].to_string())
                } else {
                    ("call", in_clauses.join(" and "))
                };
                let detail = format!("{subject} {verb} {name}() once per row; wrap it as (SELECT {name}(...)) to call it once per statement");
                let mut alter = Vec::new();
                for (clause, expr, _) in &clauses {
                    if !in_clauses.contains(clause) {
                        continue;
                    }
                    if let Some(wrapped) = expr
                        .as_deref()
                        .and_then(|e| node_tree::wrap_calls(e, &name))
                    {
                        alter.push(format!("{clause} ({wrapped})"));
                    }
                }
                let fix: Vec<String> = (!alter.is_empty())
                    .then(|| {
                        format!(
                            "ALTER POLICY {} ON {} {}",
                            quote_identifier(&policy.name),
                            table.qualified_name,
                            alter.join(" ")
                        )
                    })
                    .into_iter()
                    .collect();
                findings
                    .push(Finding::new("per_row_function", object, Status::Warn, detail).fix(&fix));
            }
        }
    }
    ok_when_empty(
        "per_row_function",
        &mut findings,
        "policy functions run once per statement",
    );
    Ok(findings)
}

/// (name, provolatile) of each function id.
fn function_names(ids: &[u32]) -> Result<Vec<(String, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let oids: Vec<pg_sys::Oid> = ids.iter().map(|&id| pg_sys::Oid::from(id)).collect();
    spi::pairs::<String, String>(
        "SELECT proname::text, provolatile::text FROM pg_proc p JOIN unnest($1::oid[]) WITH ORDINALITY AS u (oid, n) ON u.oid = p.oid ORDER BY n",
        &[oids.into()],
    )
}

/// Check 6: unique constraints and unique indexes that leave out tenant_id.
/// Keys whose values are all generated (identity, serial, gen_random_uuid())
/// only warn: a collision then tells little unless ids are chosen.
fn unique_without_tenant() -> Result<Vec<Finding>> {
    let mut findings = rows(UNIQUE_WITHOUT_TENANT_SQL, 7, |v| {
        let (table, index, constraint, kind, columns) =
            (text(v, 0), text(v, 1), text(v, 2), text(v, 3), text(v, 4));
        let generated = flag(v, 5);
        let what = if kind == "p" {
            "primary key"
        } else {
            "unique key"
        };
        let object = if constraint.is_empty() {
            index.clone()
        } else {
            format!("{table} constraint {constraint}")
        };
        let (status, detail) = if generated {
            (Status::Warn, format!("{what} ({columns}) leaves out tenant_id; its values are generated, but an explicit value that collides reveals it exists in another tenant"))
        } else {
            (Status::Fail, format!("{what} ({columns}) leaves out tenant_id: inserting a value another tenant already uses fails, which reveals it exists"))
        };
        let fix = if constraint.is_empty() {
            let def = text(v, 6).replacen(" (", &format!(" ({TENANT_COLUMN}, "), 1);
            vec![format!("DROP INDEX {index}"), def]
        } else {
            let clause = if kind == "p" { "PRIMARY KEY" } else { "UNIQUE" };
            let name = quote_identifier(&constraint);
            vec![format!("ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} {clause} ({TENANT_COLUMN}, {columns})")]
        };
        Finding::new("unique_without_tenant", object, status, detail).fix(&fix)
    })?;
    ok_when_empty(
        "unique_without_tenant",
        &mut findings,
        "every unique key includes tenant_id",
    );
    Ok(findings)
}

/// Check 6b: exclusion constraints that do not compare tenant_id with `=`
/// (an equality operator of a btree family). They span tenants like a
/// unique key without tenant_id: an insert that conflicts with another
/// tenant's row fails with 23P01, which reveals that row exists. tenant_id
/// WITH && or <> does not keep tenants apart.
fn exclusions_without_tenant() -> Result<Vec<Finding>> {
    let mut findings = rows(EXCLUSIONS_WITHOUT_TENANT_SQL, 7, |v| {
        let (table, constraint, def, method, elements) =
            (text(v, 0), text(v, 1), text(v, 2), text(v, 3), text(v, 4));
        let (mentions_tenant, needs_opclass) = (flag(v, 5), flag(v, 6));
        let how = if mentions_tenant {
            "compares tenant_id without ="
        } else {
            "leaves out tenant_id"
        };
        let detail = format!(
                "exclusion constraint ({elements}) {how}: an insert that conflicts with another tenant's row fails with 23P01, which reveals that row exists"
            );
        let mut fix = Vec::new();
        if needs_opclass && method == "gist" {
            fix.push("-- gist compares uuid with = through the btree_gist extension".to_string());
            fix.push("CREATE EXTENSION IF NOT EXISTS btree_gist".to_string());
        } else if needs_opclass {
            fix.push(format!("-- {method} has no default operator class for tenant_id's type: recreate the constraint with another index method"));
        }
        let name = quote_identifier(&constraint);
        let def = def.replacen(" (", &format!(" ({TENANT_COLUMN} WITH =, "), 1);
        fix.push(format!(
            "ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} {def}"
        ));
        Finding::new(
            "exclusion_without_tenant",
            format!("{table} constraint {constraint}"),
            Status::Fail,
            detail,
        )
        .fix(&fix)
    })?;
    ok_when_empty(
        "exclusion_without_tenant",
        &mut findings,
        "every exclusion constraint compares tenant_id with =",
    );
    Ok(findings)
}

/// Check 7: foreign keys between tenant-scoped tables that leave out
/// tenant_id. Referential checks ignore RLS, so a row of one tenant can point
/// at (and probe the existence of) another tenant's row.
fn foreign_keys_without_tenant() -> Result<Vec<Finding>> {
    let mut findings = rows(FOREIGN_KEYS_WITHOUT_TENANT_SQL, 6, |v| {
        let (child, name, parent, columns, parent_columns) =
            (text(v, 0), text(v, 1), text(v, 2), text(v, 3), text(v, 4));
        let quoted = quote_identifier(&name);
        if text(v, 5) != "true" {
            // From a table that is not tenant-scoped: whoever may insert
            // into it learns whether a key exists in any tenant.
            return Finding::new(
                "foreign_key_without_tenant",
                format!("{child} constraint {name}"),
                Status::Fail,
                format!("{child} is not tenant-scoped and its foreign key ({columns}) references tenant-scoped {parent}: an insert into it tells whether a key exists in any tenant"),
            )
            .fix(&[
                format!("ALTER TABLE {child} DROP CONSTRAINT {quoted}"),
                format!("-- or make {child} tenant-scoped (tenant_enable) and reference ({TENANT_COLUMN}, {parent_columns}) of {parent}"),
            ]);
        }
        Finding::new(
                "foreign_key_without_tenant",
                format!("{child} constraint {name}"),
                Status::Fail,
                format!("foreign key ({columns}) references {parent} without tenant_id: a row can point at another tenant's row and probe whether it exists"),
            )
            .fix(&[
                format!("ALTER TABLE {parent} ADD UNIQUE ({TENANT_COLUMN}, {parent_columns})"),
                format!(
                    "ALTER TABLE {child} DROP CONSTRAINT {quoted}, ADD CONSTRAINT {quoted} FOREIGN KEY ({TENANT_COLUMN}, {columns}) REFERENCES {parent} ({TENANT_COLUMN}, {parent_columns})"
                ),
            ])
    })?;
    ok_when_empty(
        "foreign_key_without_tenant",
        &mut findings,
        "foreign keys into tenant-scoped tables include tenant_id",
    );
    Ok(findings)
}

/// PostgreSQL 14 has no `security_invoker` views (15 added them): a view
/// there always runs with its owner's rights, so the owner must be a role
/// RLS applies to.
const NO_SECURITY_INVOKER: bool = cfg!(any(feature = "pg13", feature = "pg14"));

fn invoker_fix(view: &str) -> String {
    if NO_SECURITY_INVOKER {
        format!(
            "-- PostgreSQL 14 has no security_invoker: ALTER VIEW {view} OWNER TO a role RLS applies to (not superuser, no BYPASSRLS), or REVOKE ALL ON {view} FROM the application's roles"
        )
    } else {
        format!("ALTER VIEW {view} SET (security_invoker = true)")
    }
}

/// Check 8: views over tenant-scoped tables that run with their owner's
/// rights where the owner bypasses RLS; materialized views, which store rows
/// without RLS.
fn views_with_owner_rights(states: &[TableState]) -> Result<Vec<Finding>> {
    let bases = views_over(states)?;
    let views: Vec<pg_sys::Oid> = bases.keys().copied().collect();
    let mut findings = rows_with(VIEWS_WITH_OWNER_RIGHTS_SQL, &[views.into()], 6, |v| {
        let view = text(v, 1);
        let bases = v[0]
            .as_deref()
            .and_then(|oid| oid.parse::<u32>().ok())
            .and_then(|oid| bases.get(&pg_sys::Oid::from(oid)))
            .map(|names| names.join(", "))
            .unwrap_or_default();
        let (kind, owner) = (text(v, 2), text(v, 3));
        let (owner_bypasses, invoker) = (flag(v, 4), flag(v, 5));
        if kind == "m" {
            return Finding::new(
                    "view_owner_rights",
                    &view,
                    Status::Fail,
                    format!("materialized view over {bases} stores every tenant's rows without RLS; whoever may read it sees them all"),
                )
                .fix(&[format!("DROP MATERIALIZED VIEW {view}")]);
        }
        if invoker {
            Finding::new(
                "view_owner_rights",
                &view,
                Status::Ok,
                format!("view over {bases} uses security_invoker"),
            )
        } else if owner_bypasses {
            Finding::new(
                    "view_owner_rights",
                    &view,
                    Status::Fail,
                    format!("view over {bases} runs with the rights of {owner}, who bypasses RLS: it shows every tenant's rows"),
                )
                .fix(&[invoker_fix(&view)])
        } else if NO_SECURITY_INVOKER {
            Finding::new(
                "view_owner_rights",
                &view,
                Status::Ok,
                format!("view over {bases} runs with the rights of {owner}, to whom RLS applies"),
            )
        } else {
            Finding::new(
                    "view_owner_rights",
                    &view,
                    Status::Warn,
                    format!("view over {bases} runs with the rights of {owner}; RLS still applies to {owner}, but security_invoker is clearer"),
                )
                .fix(&[invoker_fix(&view)])
        }
    })?;
    findings.sort_by(|a, b| a.object.cmp(&b.object));
    ok_when_empty(
        "view_owner_rights",
        &mut findings,
        "no view reads tenant-scoped tables with its owner's rights",
    );
    Ok(findings)
}

/// Every view and materialized view that reads a tenant-scoped table,
/// directly or through other views, with the names of those tables, sorted.
/// The closure is walked here over the pairs of `view_edges.sql`: in SQL,
/// a recursive query over ten thousand views sized its hash table for
/// millions of rows.
fn views_over(states: &[TableState]) -> Result<HashMap<pg_sys::Oid, Vec<String>>> {
    let mut readers: HashMap<pg_sys::Oid, Vec<pg_sys::Oid>> = HashMap::default();
    for (view, base) in spi::pairs::<pg_sys::Oid, pg_sys::Oid>(VIEW_EDGES_SQL, &[])? {
        readers.entry(base).or_default().push(view);
    }
    let mut bases: HashMap<pg_sys::Oid, Vec<String>> = HashMap::default();
    for table in states {
        let origin = pg_sys::Oid::from(table.oid as u32);
        let mut seen: HashSet<pg_sys::Oid> = HashSet::default();
        let mut next: Vec<pg_sys::Oid> = readers.get(&origin).cloned().unwrap_or_default();
        while let Some(view) = next.pop() {
            if view == origin || !seen.insert(view) {
                continue;
            }
            bases
                .entry(view)
                .or_default()
                .push(table.qualified_name.clone());
            if let Some(more) = readers.get(&view) {
                next.extend(more);
            }
        }
    }
    for names in bases.values_mut() {
        names.sort();
    }
    Ok(bases)
}

/// Check 9: SECURITY DEFINER functions owned by roles that bypass RLS and
/// that read tenant-scoped tables (by name in their body, or by dependency).
fn definer_functions() -> Result<Vec<Finding>> {
    let mut findings = rows(DEFINER_FUNCTIONS_SQL, 3, |v| {
        let (function, owner, tables) = (text(v, 0), text(v, 1), text(v, 2));
        Finding::new(
                "definer_function",
                &function,
                Status::Warn,
                format!("SECURITY DEFINER, owned by {owner} who bypasses RLS, and reads {tables}: callers see every tenant's rows unless the function filters them itself"),
            )
            .fix(&[format!("ALTER FUNCTION {function} SECURITY INVOKER")])
    })?;
    ok_when_empty(
        "definer_function",
        &mut findings,
        "no SECURITY DEFINER function owned by an RLS-bypassing role reads tenant-scoped tables",
    );
    Ok(findings)
}

/// Check 10: login roles that can reach tenant-scoped tables (as owner, by a
/// grant, or through a role they belong to) and that are superuser, have
/// BYPASSRLS, can SET ROLE to such a role, or own the table.
fn bypassing_login_roles() -> Result<Vec<Finding>> {
    let mut findings = rows(BYPASSING_LOGIN_ROLES_SQL, 6, |v| {
        let (role, tables) = (text(v, 0), text(v, 1));
        let (superuser, bypassrls, owner) = (flag(v, 2), flag(v, 3), flag(v, 5));
        let via = text(v, 4);
        let quoted = quote_identifier(&role);
        if superuser {
            Finding::new(
                "login_role",
                &role,
                Status::Fail,
                format!("login role is a superuser and reaches {tables}: RLS does not apply to it"),
            )
            .fix(&[format!(
                "-- let applications connect as an ordinary role, not {quoted}"
            )])
        } else if bypassrls {
            Finding::new(
                "login_role",
                &role,
                Status::Fail,
                format!("login role has BYPASSRLS and reaches {tables}"),
            )
            .fix(&[format!("ALTER ROLE {quoted} NOBYPASSRLS")])
        } else if !via.is_empty() {
            Finding::new(
                "login_role",
                &role,
                Status::Fail,
                format!(
                    "login role reaches {tables} and can SET ROLE to {via}, which bypasses RLS"
                ),
            )
            .fix(&[format!("-- revoke {quoted}'s membership in {via}")])
        } else if owner {
            Finding::new(
                    "login_role",
                    &role,
                    Status::Warn,
                    format!("login role owns {tables}: an owner can turn RLS off (ALTER TABLE ... NO FORCE ROW LEVEL SECURITY); do not let applications connect as it"),
                )
        } else {
            Finding::new(
                "login_role",
                &role,
                Status::Ok,
                format!("ordinary login role reaching {tables}: RLS applies"),
            )
        }
    })?;
    ok_when_empty(
        "login_role",
        &mut findings,
        "no login role reaches tenant-scoped tables",
    );
    Ok(findings)
}

/// Check 11: TRUNCATE (which ignores RLS), REFERENCES and TRIGGER (a
/// trigger sees every writer's rows) granted on tenant-scoped tables to
/// roles that are not administrators.
fn risky_grants() -> Result<Vec<Finding>> {
    let mut findings = rows(RISKY_GRANTS_SQL, 3, |v| {
        let (table, grantee, privilege) = (text(v, 0), text(v, 1), text(v, 2));
        let detail = match privilege.as_str() {
            "TRUNCATE" => format!("{grantee} may TRUNCATE it, which ignores RLS and empties every tenant"),
            "TRIGGER" => format!("{grantee} may create triggers on it, which see every tenant's rows as they are written and can copy them out"),
            _ => format!("{grantee} may create foreign keys to it, which check rows across tenants"),
        };
        Finding::new(
            "risky_grant",
            format!("{table} {privilege} to {grantee}"),
            Status::Fail,
            detail,
        )
        .fix(&[format!("REVOKE {privilege} ON {table} FROM {grantee}")])
    })?;
    ok_when_empty(
        "risky_grant",
        &mut findings,
        "no TRUNCATE, REFERENCES or TRIGGER granted to non-administrators",
    );
    Ok(findings)
}

/// Check 12: serial and identity columns number rows across tenants, so a
/// tenant sees from its own ids how busy the others are.
fn serial_columns() -> Result<Vec<Finding>> {
    let mut findings = rows(SERIAL_COLUMNS_SQL, 2, |v| {
        let (table, column) = (text(v, 0), text(v, 1));
        Finding::new(
                "serial_column",
                format!("{table}.{column}"),
                Status::Warn,
                "serial or identity values are shared by all tenants: the gaps between a tenant's ids disclose other tenants' volume; prefer uuid keys (gen_random_uuid())",
            )
    })?;
    ok_when_empty(
        "serial_column",
        &mut findings,
        "no serial or identity columns on tenant-scoped tables",
    );
    Ok(findings)
}
