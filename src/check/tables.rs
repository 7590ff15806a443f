//! Checks 1 and 2: the registry tables, and each tenant-scoped table aspect
//! by aspect.

use super::{Finding, Status};
use crate::error::{self, Result};
use crate::names::TENANT_COLUMN;
use crate::store::spi;
use crate::tables::plan::{self, Expressions};
use crate::tables::state::{PolicyState, TableState};
use pgrx::prelude::*;

/// The registered tables: (oid, name or None when the table was dropped).
pub fn registered_tables() -> Result<Vec<(pg_sys::Oid, Option<String>)>> {
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(
            "SELECT t.relid::oid, c.oid::regclass::text
               FROM tenant.tables t LEFT JOIN pg_class c ON c.oid = t.relid
              ORDER BY 2",
            None,
            &[],
        )? {
            out.push((
                row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid),
                row.get::<String>(2)?,
            ));
        }
        Ok(out)
    })
    .map_err(error::internal)
}

/// A registry policy as pg_tenant creates it.
struct RegistryPolicy {
    name: &'static str,
    /// `r` (SELECT), `*` (ALL) or `a` (INSERT, whose WITH CHECK is `using`).
    command: &'static str,
    role: &'static str,
    using: String,
}

impl RegistryPolicy {
    fn read(name: &'static str, role: &'static str, using: impl Into<String>) -> Self {
        RegistryPolicy {
            name,
            command: "r",
            role,
            using: using.into(),
        }
    }
}

/// Check 1: registry tables present, RLS enabled and forced, and exactly the
/// expected read policies (any other policy could widen access).
pub fn check_registry() -> Result<Vec<Finding>> {
    let exprs = Expressions::for_extension()?;
    let isolation_on = |column: &str| exprs.isolation_deparsed_on(column);
    let operator = exprs.operator_reads_deparsed();
    let admin_read = || RegistryPolicy::read("tenant_admin_read", "tenant_admin", operator.clone());
    let tenant_scoped = |column: &str| {
        vec![
            RegistryPolicy::read("tenant_isolation", "public", isolation_on(column)),
            admin_read(),
        ]
    };
    // Plans and their row limits: readable by all, edited by operators.
    let plan_table = || {
        vec![
            RegistryPolicy::read("tenant_plans_read", "public", "true"),
            RegistryPolicy {
                command: "*",
                ..RegistryPolicy::read("tenant_admin_write", "tenant_admin", operator.clone())
            },
        ]
    };
    let expected: Vec<(&str, Vec<RegistryPolicy>)> = vec![
        ("tenant.tenants", tenant_scoped("id")),
        (
            "tenant.tables",
            vec![RegistryPolicy::read("tenant_tables_read", "public", "true")],
        ),
        ("tenant.members", tenant_scoped(TENANT_COLUMN)),
        ("tenant.domains", tenant_scoped(TENANT_COLUMN)),
        ("tenant.settings", tenant_scoped(TENANT_COLUMN)),
        ("tenant.plans", plan_table()),
        ("tenant.plan_row_limits", plan_table()),
        ("tenant.row_limits", tenant_scoped(TENANT_COLUMN)),
        ("tenant.usage_totals", tenant_scoped(TENANT_COLUMN)),
        ("tenant.usage_by_table", tenant_scoped(TENANT_COLUMN)),
        ("tenant.usage", tenant_scoped(TENANT_COLUMN)),
        ("tenant.check_acceptances", vec![admin_read()]),
        (
            "tenant.audit_log",
            vec![
                RegistryPolicy::read(
                    "tenant_isolation",
                    "public",
                    exprs.audit_isolation_deparsed(),
                ),
                admin_read(),
            ],
        ),
        ("tenant.erasures", vec![admin_read()]),
    ];
    // One state query for all of them.
    let names: Vec<String> = expected.iter().map(|(n, _)| n.to_string()).collect();
    let oids = spi::column::<pg_sys::Oid>(
        "SELECT pg_catalog.to_regclass(n)::pg_catalog.oid FROM pg_catalog.unnest($1::pg_catalog.text[]) n
          WHERE pg_catalog.to_regclass(n) IS NOT NULL",
        &[names.into()],
    )?;
    let states = TableState::read_many(&oids)?;
    let mut findings = Vec::new();
    for (name, policies) in expected {
        let Some(state) = states.iter().find(|s| s.qualified_name == name) else {
            findings.push(
                Finding::new("registry", name, Status::Fail, "registry table is missing").fix(&[
                    "DROP EXTENSION pg_tenant CASCADE".into(),
                    "CREATE EXTENSION pg_tenant".into(),
                ]),
            );
            continue;
        };
        findings.push(registry_table_finding(state, &policies));
    }
    Ok(findings)
}

fn registry_table_finding(state: &TableState, expected: &[RegistryPolicy]) -> Finding {
    let t = &state.qualified_name;
    let mut problems = Vec::new();
    let mut fix = Vec::new();
    fix.extend(plan::enable_rls_statements(state));
    fix.extend(plan::force_rls_statements(state));
    if !state.rls_enabled {
        problems.push("RLS is not enabled".to_string());
    }
    if !state.rls_forced {
        problems.push("RLS is not forced".to_string());
    }
    for want in expected {
        let ok = state.policy(want.name).is_some_and(|p| {
            let clause = if want.command == "a" {
                &p.with_check
            } else {
                &p.using
            };
            p.command == want.command
                && p.permissive
                && p.roles == [want.role]
                && clause.as_deref() == Some(want.using.as_str())
        });
        if !ok {
            problems.push(format!("policy {} is missing or changed", want.name));
            if state.policy(want.name).is_some() {
                fix.push(format!("DROP POLICY {} ON {t}", want.name));
            }
            let clauses = match want.command {
                "*" => format!(
                    "FOR ALL TO {} USING ({u}) WITH CHECK ({u})",
                    want.role,
                    u = want.using
                ),
                "a" => format!("FOR INSERT TO {} WITH CHECK ({})", want.role, want.using),
                _ => format!("FOR SELECT TO {} USING ({})", want.role, want.using),
            };
            fix.push(format!(
                "CREATE POLICY {} ON {t} AS PERMISSIVE {clauses}",
                want.name
            ));
        }
    }
    for extra in state
        .policies
        .iter()
        .filter(|p| expected.iter().all(|w| w.name != p.name))
    {
        problems.push(format!("unexpected policy {}", extra.name));
        fix.push(format!("DROP POLICY {} ON {t}", extra.name));
    }
    if problems.is_empty() {
        Finding::new(
            "registry",
            t,
            Status::Ok,
            "RLS enabled and forced, policies as installed",
        )
    } else {
        Finding::new("registry", t, Status::Fail, problems.join("; ")).fix(&fix)
    }
}

/// Check 2: every registered table, aspect by aspect.
pub fn check_tenant_tables(
    registered: &[(pg_sys::Oid, Option<String>)],
    states: &[TableState],
) -> Result<Vec<Finding>> {
    let exprs = Expressions::for_extension()?;
    let mut findings = Vec::new();
    for (oid, name) in registered {
        if name.is_none() {
            findings.push(
                Finding::new(
                    "table_exists",
                    format!("OID {}", oid.to_u32()),
                    Status::Fail,
                    "tenant.tables lists a table that no longer exists",
                )
                .fix(&[format!(
                    "DELETE FROM tenant.tables WHERE relid = {}::oid",
                    oid.to_u32()
                )]),
            );
        }
    }
    let counted_above = counted_above()?;
    let schema = spi::extension_schema()?;
    for table in states {
        let under_counted = counted_above.get(&table.oid).map(|(root, writers)| {
            let fix = format!(
                "SELECT {schema}.tenant_enable({})",
                pgrx::spi::quote_literal(&table.qualified_name)
            );
            if writers.is_empty() {
                return Finding::new(
                    "usage_triggers",
                    &table.qualified_name,
                    Status::Ok,
                    format!("usage is not counted here, though {root} above it counts usage: only its owner may write it directly now, but a grant of INSERT or UPDATE would let those writes pass the quotas of {root} uncounted (counted: {fix})"),
                );
            }
            Finding::new(
                "usage_triggers",
                &table.qualified_name,
                Status::Fail,
                format!("usage is not counted here, but {root} above it counts usage and reads its rows: {writers} may write this table directly, and those rows pass the quotas of {root} uncounted"),
            )
            .fix(&[fix])
        });
        findings.extend(table_findings(table, &exprs, under_counted));
    }
    Ok(findings)
}

/// The registered tables that count no usage themselves, each with the
/// counted table above it (partition or inheritance parent, any depth) that
/// reads its rows, and the roles other than its owner that may write it
/// (INSERT or UPDATE, on the table or a column; empty: none).
fn counted_above() -> Result<std::collections::HashMap<i64, (String, String)>> {
    let rows = spi::pairs::<i64, pgrx::JsonB>(
        "WITH RECURSIVE up (relid, ancestor) AS (
             SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i
             UNION SELECT up.relid, i.inhparent FROM up JOIN pg_catalog.pg_inherits i
                             ON i.inhrelid OPERATOR(pg_catalog.=) up.ancestor)
         SELECT DISTINCT ON (t.relid) t.relid::pg_catalog.oid::pg_catalog.int8,
                pg_catalog.jsonb_build_array(up.ancestor::pg_catalog.regclass::pg_catalog.text,
                  (SELECT COALESCE(pg_catalog.string_agg(DISTINCT
                            CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                 ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END, ', '), '')
                     FROM (SELECT (pg_catalog.aclexplode(c.relacl)).* FROM pg_catalog.pg_class c
                            WHERE c.oid OPERATOR(pg_catalog.=) t.relid::pg_catalog.oid
                           UNION ALL
                           SELECT (pg_catalog.aclexplode(a.attacl)).* FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid OPERATOR(pg_catalog.=) t.relid::pg_catalog.oid) g
                     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid::pg_catalog.oid
                    WHERE g.privilege_type OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE'])
                      AND g.grantee OPERATOR(pg_catalog.<>) c.relowner))
           FROM tenant.tables t
           JOIN up ON up.relid OPERATOR(pg_catalog.=) t.relid::pg_catalog.oid
           JOIN tenant.tables a ON a.relid::pg_catalog.oid OPERATOR(pg_catalog.=) up.ancestor
          WHERE NOT t.track_usage AND a.track_usage
          ORDER BY t.relid, up.ancestor",
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|(relid, pair)| {
            let part = |i: usize| pair.0[i].as_str().unwrap_or_default().to_string();
            (relid, (part(0), part(1)))
        })
        .collect())
}

fn table_findings(
    table: &TableState,
    exprs: &Expressions,
    under_counted: Option<Finding>,
) -> Vec<Finding> {
    let t = &table.qualified_name;
    let mut findings = vec![column_finding(table)];
    let aspect =
        |check: &'static str, statements: Vec<String>, ok: &str, problem: &str, failing: Status| {
            if statements.is_empty() {
                Finding::new(check, t, Status::Ok, ok)
            } else {
                Finding::new(check, t, failing, problem).fix(&statements)
            }
        };
    findings.push(aspect(
        "foreign_key",
        plan::foreign_key_statements(table),
        "tenant_id references tenant.tenants (id)",
        "no foreign key from tenant_id to tenant.tenants (id): rows can name tenants that do not exist",
        Status::Fail,
    ));
    findings.push(aspect(
        "rls_enabled",
        plan::enable_rls_statements(table),
        "row level security is enabled",
        "row level security is disabled: every role with privileges sees every tenant",
        Status::Fail,
    ));
    findings.push(aspect(
        "rls_forced",
        plan::force_rls_statements(table),
        "row level security is forced",
        "row level security is not forced: the table owner sees every tenant",
        Status::Fail,
    ));
    findings.push(aspect(
        "isolation_policy",
        plan::isolation_policy_statements(table, exprs),
        "tenant_isolation: FOR ALL TO PUBLIC, USING and WITH CHECK match the current tenant",
        &isolation_problem(table.policy("tenant_isolation")),
        Status::Fail,
    ));
    findings.push(aspect(
        "bypass_policy",
        plan::bypass_policy_statements(table, exprs),
        "tenant_bypass: TO tenant_bypass, only when app.bypass_rls is on",
        "policy tenant_bypass is missing or changed: bypass does not work as documented",
        Status::Warn,
    ));
    findings.push(aspect(
        "fill_trigger",
        plan::fill_trigger_statements(table, exprs),
        "tenant_set_id fills tenant_id BEFORE INSERT",
        "trigger tenant_set_id is missing, disabled or changed: inserts must name tenant_id",
        Status::Fail,
    ));
    findings.push(if table.track_usage {
        aspect(
            "usage_triggers",
            plan::usage_statements(table, exprs, true),
            "tenant_usage_* count rows and bytes per tenant after INSERT, UPDATE, DELETE and TRUNCATE",
            "usage triggers are missing, disabled or changed: row and storage quotas are not enforced and the counters drift",
            Status::Fail,
        )
    } else if let Some(finding) = under_counted {
        finding
    } else {
        Finding::new(
            "usage_triggers",
            &table.qualified_name,
            Status::Ok,
            "usage is not counted (tenant_enable(..., track_usage => false)): no row or storage quota applies",
        )
    });
    findings.push(aspect(
        "tenant_index",
        plan::index_statements(table),
        &format!(
            "index {} is led by tenant_id",
            table.tenant_index.clone().unwrap_or_default()
        ),
        "no valid index is led by tenant_id: every tenant's query scans the whole table",
        Status::Warn,
    ));
    findings
}

fn column_finding(table: &TableState) -> Finding {
    let t = &table.qualified_name;
    match &table.column {
        None => {
            Finding::new("tenant_column", t, Status::Fail, "no tenant_id column").fix(&[format!(
                "SELECT tenant_enable({}, add_column => true)",
                pgrx::spi::quote_literal(t)
            )])
        }
        Some(c) if !c.is_uuid => Finding::new(
            "tenant_column",
            t,
            Status::Fail,
            format!("tenant_id has type {}, not uuid", c.type_name),
        )
        .fix(&[format!(
            "ALTER TABLE {t} ALTER COLUMN {TENANT_COLUMN} TYPE uuid USING {TENANT_COLUMN}::uuid"
        )]),
        Some(c) if !c.not_null => {
            Finding::new("tenant_column", t, Status::Fail, "tenant_id accepts NULL").fix(&[
                format!("ALTER TABLE {t} ALTER COLUMN {TENANT_COLUMN} SET NOT NULL"),
            ])
        }
        Some(_) => Finding::new("tenant_column", t, Status::Ok, "tenant_id uuid NOT NULL"),
    }
}

fn isolation_problem(policy: Option<&PolicyState>) -> String {
    match policy {
        None => "no tenant_isolation policy: the table shows no rows, or all of them".into(),
        Some(p) => format!(
            "tenant_isolation is not pg_tenant's policy (command {}, roles {}, USING {}, WITH CHECK {})",
            p.command,
            p.roles.join(","),
            p.using.as_deref().unwrap_or("none"),
            p.with_check.as_deref().unwrap_or("none")
        ),
    }
}
