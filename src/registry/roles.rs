//! Tenant roles (`tenant.members.role`): owner > admin > member > guest, and
//! the role a user holds in a tenant, cached per session.

use crate::error::{self, Result};
use crate::session::cache::SessionCache;
use crate::store::lookup;
use pgrx::Uuid;
use std::cell::RefCell;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Guest,
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(text: Option<&str>, argument: &str) -> Result<Role> {
        match text {
            Some("owner") => Ok(Role::Owner),
            Some("admin") => Ok(Role::Admin),
            Some("member") => Ok(Role::Member),
            Some("guest") => Ok(Role::Guest),
            Some(other) => Err(error::invalid_parameter(
                format!("\"{}\" is not a tenant role", error::shorten(other)),
                format!("Pass one of owner, admin, member, guest as {argument}."),
            )),
            None => Err(error::null_argument("tenant role", argument)),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Guest => "guest",
        }
    }
}

type RoleKey = ([u8; 16], [u8; 16]);

thread_local! {
    /// (tenant, user) → role lookups of this session, so that
    /// `tenant_has_role` in a policy does not read `tenant.members` for every
    /// statement. Forgotten when the registry epoch moves on (the trigger on
    /// tenant.members moves it).
    static CACHED_ROLES: RefCell<SessionCache<RoleKey, Option<Role>>> = RefCell::new(SessionCache::following_registry());
}

/// The role of `user` in `tenant`, read by primary key with the latest
/// committed state (`lookup`: no policy applies, so it works inside users'
/// own policies, even on tenant.members, without recursion).
pub fn role_of(tenant: Uuid, user: Uuid) -> Result<Option<Role>> {
    let key = (*tenant.as_bytes(), *user.as_bytes());
    let read_at = CACHED_ROLES.with(|cache| cache.borrow().epoch_now());
    if let Some(role) = CACHED_ROLES.with(|cache| cache.borrow().get(&key).copied()) {
        return Ok(role);
    }
    let lookup_key = [lookup::uuid_key(&key.0), lookup::uuid_key(&key.1)];
    let text = lookup::by_primary_key(c"members", &lookup_key, |row| row.text(c"role"))?.flatten();
    let role = text.and_then(|t| Role::parse(Some(&t), "role").ok());
    CACHED_ROLES.with(|cache| cache.borrow_mut().insert_read_at(key, role, read_at));
    Ok(role)
}

/// Whether the current role is a superuser or has the privileges of
/// tenant_admin (an operator).
pub fn is_operator() -> bool {
    is_operator_role(unsafe { pgrx::pg_sys::GetUserId() })
}

/// Whether the role the session acts as outside any SECURITY DEFINER
/// function (the user after SET ROLE) is an operator.
pub fn outer_role_is_operator() -> bool {
    is_operator_role(unsafe { pgrx::pg_sys::GetOuterUserId() })
}

/// Whether the current role has the privileges of tenant_bypass (the role
/// the tenant_bypass policies apply to), and so has the role the session
/// acts as outside any SECURITY DEFINER function: a definer function owned
/// by a member, granted to an application role, must not hand that role
/// the bypass (it would need only `set_config('app.bypass_rls', ...)`).
pub fn has_bypass_role() -> bool {
    unsafe {
        let bypass = pgrx::pg_sys::get_role_oid(c"tenant_bypass".as_ptr(), true);
        bypass != pgrx::pg_sys::InvalidOid
            && pgrx::pg_sys::has_privs_of_role(pgrx::pg_sys::GetUserId(), bypass)
            && pgrx::pg_sys::has_privs_of_role(pgrx::pg_sys::GetOuterUserId(), bypass)
    }
}

fn is_operator_role(user: pgrx::pg_sys::Oid) -> bool {
    unsafe {
        if pgrx::pg_sys::superuser_arg(user) {
            return true;
        }
        let admin = pgrx::pg_sys::get_role_oid(c"tenant_admin".as_ptr(), true);
        admin != pgrx::pg_sys::InvalidOid && pgrx::pg_sys::has_privs_of_role(user, admin)
    }
}
