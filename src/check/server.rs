//! Checks of the server itself: a minor release older than the fixes of
//! known row-level security bugs, and extended statistics on tenant-scoped
//! tables with the views that show them (`pg_stats_ext`,
//! `pg_stats_ext_exprs`; the fix of CVE-2024-4317 needs a script in every
//! database of a cluster created before it).

use super::{ok_when_empty, rows, text, Finding, Status};
use crate::error::Result;
use crate::store::spi;

const EXTENDED_STATISTICS_SQL: &str =
    include_str!("../../sql/queries/check/extended_statistics.sql");

/// A PostgreSQL security fix that matters to row-level security.
pub struct SecurityFix {
    pub cve: &'static str,
    /// What the bug lets a session do.
    pub what: &'static str,
    /// (major, first fixed minor) for each supported major that had the bug;
    /// a major not listed never had it (its .0 release is fixed).
    pub fixed_in: &'static [(u32, u32)],
}

/// The fixes `tenant_check` knows of, oldest first. Add new ones here with
/// each PostgreSQL security release that touches row-level security.
pub const SECURITY_FIXES: &[SecurityFix] = &[
    SecurityFix {
        cve: "CVE-2023-2455",
        what: "row security policies disregard user ID changes after inlining: a policy planned for one role applies to another",
        fixed_in: &[(13, 11), (14, 8), (15, 3)],
    },
    SecurityFix {
        cve: "CVE-2023-39418",
        what: "MERGE does not enforce UPDATE or SELECT row security policies",
        fixed_in: &[(15, 4)],
    },
    SecurityFix {
        cve: "CVE-2024-4317",
        what: "pg_stats_ext and pg_stats_ext_exprs show the statistics objects of other roles' tables, expression statistics included, to roles without privileges on them",
        fixed_in: &[(14, 12), (15, 7), (16, 3)],
    },
    SecurityFix {
        cve: "CVE-2024-10976",
        what: "row security below subqueries and in cached plans disregards user ID changes (SET ROLE, SECURITY DEFINER)",
        fixed_in: &[(13, 17), (14, 14), (15, 9), (16, 5), (17, 1)],
    },
    SecurityFix {
        cve: "CVE-2025-8713",
        what: "optimizer statistics expose sampled values of tables with row security through views, partitions and inheritance children",
        fixed_in: &[(13, 22), (14, 19), (15, 14), (16, 10), (17, 6)],
    },
];

/// The fixes a server of `major.minor` lacks, and the minor release that has
/// them all.
pub fn missing_fixes(major: u32, minor: u32) -> (Vec<&'static SecurityFix>, u32) {
    let missing: Vec<&SecurityFix> = SECURITY_FIXES
        .iter()
        .filter(|fix| {
            fix.fixed_in
                .iter()
                .any(|&(m, first)| m == major && minor < first)
        })
        .collect();
    let target = SECURITY_FIXES
        .iter()
        .flat_map(|fix| fix.fixed_in.iter())
        .filter(|&&(m, _)| m == major)
        .map(|&(_, first)| first)
        .max()
        .unwrap_or(0);
    (missing, target)
}

pub fn check_all() -> Result<Vec<Finding>> {
    let mut findings = server_version()?;
    findings.extend(extended_statistics()?);
    Ok(findings)
}

/// Check 17: a server older than the fixes of known RLS bugs warns once per
/// fix, naming the minor release to upgrade to.
fn server_version() -> Result<Vec<Finding>> {
    let number = spi::one::<i32>(
        "SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4",
        &[],
    )?
    .unwrap_or(0) as u32;
    let (major, minor) = (number / 10000, number % 10000);
    let (missing, target) = missing_fixes(major, minor);
    if major < 14 {
        return Ok(vec![Finding::new(
            "server_version",
            format!("PostgreSQL {major}"),
            Status::Warn,
            format!("PostgreSQL {major}.{minor} is past its end of life: it gets no fixes of row security bugs any more"),
        )
        .fix(&["-- upgrade to a supported major release (pg_upgrade)".to_string()])]);
    }
    let mut findings: Vec<Finding> = missing
        .iter()
        .map(|fix| {
            let first = fix
                .fixed_in
                .iter()
                .find(|&&(m, _)| m == major)
                .map_or(0, |&(_, first)| first);
            Finding::new(
                "server_version",
                fix.cve,
                Status::Warn,
                format!("PostgreSQL {major}.{minor} predates the fix of {} ({}) in {major}.{first}: upgrade to {major}.{target} or later", fix.cve, fix.what),
            )
            .fix(&[format!("-- install PostgreSQL {major}.{target} or a later minor release of {major} (a minor upgrade needs no dump and restore)")])
        })
        .collect();
    ok_when_empty(
        "server_version",
        &mut findings,
        &format!(
            "PostgreSQL {major}.{minor} has the fixes of the row security bugs pg_tenant knows of"
        ),
    );
    Ok(findings)
}

/// Check 18: extended statistics (`CREATE STATISTICS`) on tenant-scoped
/// tables hold values of every tenant (most common values, per column
/// combination or expression). `pg_stats_ext` and `pg_stats_ext_exprs`
/// hide the statistics of tables with row security from every session it
/// applies to, before and after the fix of CVE-2024-4317, so they are
/// reported ok; the fix (the views also require the table's owner) is
/// checked for the database as a whole: without it, any role reads the
/// statistics objects of tables without row security it may not read.
fn extended_statistics() -> Result<Vec<Finding>> {
    let unfixed = spi::column::<String>(
        "SELECT v FROM pg_catalog.unnest(ARRAY['pg_catalog.pg_stats_ext', 'pg_catalog.pg_stats_ext_exprs']) v
          WHERE pg_catalog.to_regclass(v) IS NOT NULL
            AND pg_catalog.strpos(pg_catalog.pg_get_viewdef(pg_catalog.to_regclass(v)), 'pg_has_role(c.relowner') OPERATOR(pg_catalog.=) 0",
        &[],
    )?;
    let mut findings = rows(EXTENDED_STATISTICS_SQL, 2, |v| {
        let (statistics, table) = (text(v, 0), text(v, 1));
        Finding::new(
            "extended_statistics",
            &statistics,
            Status::Ok,
            format!("statistics on {table} hold every tenant's most common values; pg_stats_ext and pg_stats_ext_exprs hide them from every session row security applies to (the owner's included, as the table forces it)"),
        )
    })?;
    if !unfixed.is_empty() {
        let views = unfixed.join(" and ");
        findings.push(
            Finding::new(
                "extended_statistics",
                views.clone(),
                Status::Warn,
                format!("{views} predate the fix of CVE-2024-4317 in this database: any role reads the statistics objects (most common values) of tables without row security it may not read; tenant-scoped tables stay hidden by their row security"),
            )
            .fix(&[
                "-- as a superuser, in every database of the cluster (template0 and template1 included):".to_string(),
                "-- psql -d <database> -f \"$(pg_config --sharedir)/fix-CVE-2024-4317.sql\"".to_string(),
            ]),
        );
    }
    ok_when_empty(
        "extended_statistics",
        &mut findings,
        "no extended statistics on tenant-scoped tables, and pg_stats_ext has the fix of CVE-2024-4317",
    );
    Ok(findings)
}

#[cfg(test)]
mod unit_tests {
    use super::missing_fixes;

    fn cves(major: u32, minor: u32) -> Vec<&'static str> {
        missing_fixes(major, minor)
            .0
            .iter()
            .map(|f| f.cve)
            .collect()
    }

    #[test]
    fn old_minor_releases_miss_the_fixes_they_predate() {
        assert_eq!(
            cves(15, 2),
            [
                "CVE-2023-2455",
                "CVE-2023-39418",
                "CVE-2024-4317",
                "CVE-2024-10976",
                "CVE-2025-8713"
            ]
        );
        assert_eq!(
            cves(15, 4),
            ["CVE-2024-4317", "CVE-2024-10976", "CVE-2025-8713"]
        );
        assert_eq!(cves(14, 13), ["CVE-2024-10976", "CVE-2025-8713"]);
        assert_eq!(
            cves(16, 0),
            ["CVE-2024-4317", "CVE-2024-10976", "CVE-2025-8713"]
        );
        assert_eq!(cves(17, 0), ["CVE-2024-10976", "CVE-2025-8713"]);
        assert_eq!(missing_fixes(15, 2).1, 14);
        assert_eq!(missing_fixes(17, 5).1, 6);
    }

    #[test]
    fn current_minor_releases_and_new_majors_miss_nothing() {
        assert!(cves(14, 19).is_empty());
        assert!(cves(15, 14).is_empty());
        assert!(cves(16, 10).is_empty());
        assert!(cves(17, 6).is_empty());
        assert!(cves(18, 0).is_empty());
    }
}
