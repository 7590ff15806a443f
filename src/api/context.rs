//! The SQL-visible context functions: `current_tenant_id()`,
//! `current_tenant_user_id()`, `tenant_bypass_requested()` (read by the
//! policies `tenant_enable` creates, once per statement as an InitPlan) and
//! `tenant_has_role()` (for users' own policies).
//!
//! All are STABLE and PARALLEL RESTRICTED: the leader evaluates them (the
//! InitPlan's value is handed to parallel workers), and no parallel worker
//! ever runs pg_tenant's code (`session::settings` refuses it).

use crate::enforce::current;
use crate::error::Result;
use crate::registry::roles::{self, Role};
use pgrx::prelude::*;
use pgrx::Uuid;

/// `current_tenant_id()`: the tenant this transaction acts for, or NULL.
#[pg_extern(stable, parallel_restricted)]
fn current_tenant_id() -> Result<Option<Uuid>> {
    let tenant = current::tenant()?;
    if tenant.is_none() {
        refuse_dump_through_policies()?;
    }
    Ok(tenant)
}

/// `pg_dump --enable-row-security` as a role that RLS filters reads every
/// tenant-scoped table through its policies; with no tenant set they show no
/// rows, and the dump would hold none of them without a word. pg_dump names
/// itself in application_name (its fallback_application_name); the policies
/// call this function, so it is where such a dump is stopped. A session
/// that is not pg_dump is unaffected (no tenant: no rows, as designed).
fn refuse_dump_through_policies() -> Result<()> {
    // SAFETY: reads the current value of a built-in setting.
    let name = unsafe { pg_sys::GetConfigOption(c"application_name".as_ptr(), true, false) };
    if name.is_null() || unsafe { std::ffi::CStr::from_ptr(name) }.to_bytes() != b"pg_dump" {
        return Ok(());
    }
    Err(crate::error::insufficient_privilege(
        "pg_dump reads tenant-scoped rows through row-level security with no tenant set: the dump would hold none of them",
        "Dump as a superuser, or as a role with BYPASSRLS that can read every table (pg_read_all_data), \
         without --enable-row-security (README, \"Backups\").",
    ))
}

/// `current_tenant_user_id()`: the acting user (`app.current_user_id`), or NULL.
#[pg_extern(stable, parallel_restricted)]
fn current_tenant_user_id() -> Result<Option<Uuid>> {
    current::user()
}

/// `tenant_bypass_requested()`: whether the session asked for cross-tenant
/// access with `app.bypass_rls = on`. Asking is not enough: this function is
/// only consulted by the `tenant_bypass` policy, which Postgres applies to
/// members of the `tenant_bypass` role alone.
#[pg_extern(stable, parallel_restricted)]
fn tenant_bypass_requested() -> Result<bool> {
    // Only for a role that holds the bypass itself: a view owned by a
    // member, whose policies Postgres applies as the owner's, opens
    // nothing to a reader who is not one (and leaves no record).
    if !current::bypass_requested()? || !roles::has_bypass_role() {
        return Ok(false);
    }
    // Recorded in tenant.bypass_log before it opens anything (or refused).
    crate::enforce::breakglass::record_use()?;
    Ok(true)
}

/// `_tenant_operator_reads()`: whether the registry's `tenant_admin_read`
/// (and `tenant_admin_write`) policies open every tenant's rows to this
/// session: the role asking is an operator, and so is the role the session
/// acts as outside any SECURITY DEFINER function. Postgres applies those
/// policies, `TO tenant_admin`, as a view's owner; a view (or a definer
/// function) an operator wrote in a migration would otherwise show every
/// tenant's registry rows and audit entries to whoever may read it.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _tenant_operator_reads() -> bool {
    roles::is_operator() && roles::outer_role_is_operator()
}

/// `tenant_has_role(min_role)`: whether the current user (`app.current_user_id`)
/// holds at least `min_role` in the current tenant. False when either is unset.
/// For users' own policies: `USING ((SELECT tenant_has_role('admin')))`.
#[pg_extern(stable, parallel_restricted)]
fn tenant_has_role(min_role: Option<&str>) -> Result<bool> {
    let min_role = Role::parse(min_role, "min_role")?;
    let (Some(tenant), Some(user)) = (current::tenant()?, current::user()?) else {
        return Ok(false);
    };
    Ok(roles::role_of(tenant, user)?.is_some_and(|role| role >= min_role))
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn a_rolled_back_subtransaction_restores_the_tenant_it_replaced() {
        // The parsed setting follows Postgres' own undo of the value: the
        // tenant checked inside the subtransaction must not outlive it.
        let first = Spi::get_one::<pgrx::Uuid>("SELECT tenant_create('First')")
            .unwrap()
            .unwrap();
        let second = Spi::get_one::<pgrx::Uuid>("SELECT tenant_create('Second')")
            .unwrap()
            .unwrap();
        Spi::run(&format!(
            "SELECT set_config('app.current_tenant', '{first}', true)"
        ))
        .unwrap();
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_id()").unwrap(),
            Some(first)
        );
        Spi::run(&format!(
            "DO $$ BEGIN
                 PERFORM set_config('app.current_tenant', '{second}', true);
                 IF current_tenant_id() IS DISTINCT FROM '{second}' THEN
                     RAISE EXCEPTION 'second tenant not seen inside the block';
                 END IF;
                 RAISE EXCEPTION 'undo' USING ERRCODE = 'P0003';
             EXCEPTION WHEN SQLSTATE 'P0003' THEN NULL;
             END $$"
        ))
        .unwrap();
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_id()").unwrap(),
            Some(first)
        );
        Spi::run("RESET app.current_tenant").unwrap();
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_id()").unwrap(),
            None
        );
    }

    #[pg_test]
    fn unset_and_empty_context_is_null() {
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_id()").unwrap(),
            None
        );
        Spi::run("SELECT set_config('app.current_tenant', '', true)").unwrap();
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_id()").unwrap(),
            None
        );
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_user_id()").unwrap(),
            None
        );
    }

    #[pg_test]
    fn context_returns_the_active_tenant() {
        let id = Spi::get_one::<pgrx::Uuid>("SELECT tenant_create('Acme')")
            .unwrap()
            .unwrap();
        Spi::run(&format!(
            "SELECT set_config('app.current_tenant', '{id}', true)"
        ))
        .unwrap();
        assert_eq!(
            Spi::get_one::<pgrx::Uuid>("SELECT current_tenant_id()").unwrap(),
            Some(id)
        );
    }

    #[pg_test(
        error = "pg_tenant: app.current_tenant is set to \"not-a-uuid\", which is not a UUID"
    )]
    fn malformed_context_is_an_error() {
        Spi::run("SELECT set_config('app.current_tenant', 'not-a-uuid', true)").unwrap();
        Spi::run("SELECT current_tenant_id()").unwrap();
    }

    #[pg_test(error = "pg_tenant: app.current_user_id is set to \"42\", which is not a UUID")]
    fn malformed_user_is_an_error() {
        Spi::run("SELECT set_config('app.current_user_id', '42', true)").unwrap();
        Spi::run("SELECT current_tenant_user_id()").unwrap();
    }

    #[pg_test(
        error = "pg_tenant: tenant \"soon\" (8a4c0b7e-5f1d-4d6e-9a63-2f0c1d9e7b10) is suspended; its data cannot be accessed"
    )]
    fn suspension_in_the_same_transaction_is_seen_at_once() {
        // The per-transaction cache must not hide a status change made later
        // in the same transaction.
        let id = "8a4c0b7e-5f1d-4d6e-9a63-2f0c1d9e7b10";
        Spi::run(&format!(
            "INSERT INTO tenant.tenants (id, slug, name) VALUES ('{id}', 'soon', 'Soon')"
        ))
        .unwrap();
        Spi::run(&format!(
            "SELECT set_config('app.current_tenant', '{id}', true)"
        ))
        .unwrap();
        assert_eq!(
            Spi::get_one::<String>("SELECT current_tenant_id()::text")
                .unwrap()
                .as_deref(),
            Some(id)
        );
        Spi::run("UPDATE tenant.tenants SET status = 'suspended' WHERE slug = 'soon'").unwrap();
        Spi::run("SELECT current_tenant_id()").unwrap();
    }

    #[pg_test]
    fn bypass_request_reads_postgres_booleans() {
        assert_eq!(
            Spi::get_one::<bool>("SELECT tenant_bypass_requested()").unwrap(),
            Some(false)
        );
        for (value, expected) in [
            ("on", true),
            ("true", true),
            ("1", true),
            ("off", false),
            ("no", false),
        ] {
            Spi::run(&format!(
                "SELECT set_config('app.bypass_rls', '{value}', true)"
            ))
            .unwrap();
            assert_eq!(
                Spi::get_one::<bool>("SELECT tenant_bypass_requested()").unwrap(),
                Some(expected),
                "{value}"
            );
        }
    }
}
