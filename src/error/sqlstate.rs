//! pg_tenant's own SQLSTATEs (class `PT`): one per refusal an application
//! answers differently (no tenant, an invalid token, an unknown, suspended
//! or deleted tenant, a row for another tenant, each quota), so it maps an
//! error to an HTTP status by SQLSTATE alone (`tenant_error_codes()` lists
//! them; README, "Errors").
//!
//! pgrx 0.18 raises only the SQLSTATEs of its `PgSqlErrorCode` enum (the
//! codes PostgreSQL defines). A refusal is therefore built as an ordinary
//! `ErrorReport` with a standard *carrier* code (the code pg_tenant used
//! before it had its own), and Postgres is told the real code while it
//! raises the error:
//!
//! 1. `refusal()` remembers the pending refusal (carrier, code, message) and
//!    makes sure a context callback of ours is on Postgres'
//!    `error_context_stack`;
//! 2. `errfinish()` calls every context callback before it throws: ours
//!    calls `errcode()` with the real code when the error being raised has
//!    the carrier code. What is thrown, caught by PL/pgSQL `EXCEPTION WHEN`
//!    or sent to the client, carries the `PT` code;
//! 3. when the refusal was raised under another pg_tenant function (our code
//!    running SQL that reaches our code again), pgrx catches it on the way
//!    out and, not knowing the code, raises it again as XX000 with the same
//!    message: the `emit_log_hook` gives it back its code before it is
//!    logged and sent (when the server logs errors at all: log_min_messages
//!    below FATAL). A PL/pgSQL handler around that outer function sees
//!    XX000. No application path does this today: the one pg_tenant code
//!    that runs such SQL, tenant_check's probe, catches the error itself
//!    (`store::subxact`, which reads the code the same way).
//!
//! The pending refusal is forgotten at the end of every transaction
//! (`session::epoch`), after the error was reported.
//!
//! A refusal built and then caught inside pg_tenant's own Rust code (a
//! subtransaction, `store::subxact`) must call `forget()`.

use pgrx::pg_sys;
use pgrx::PgSqlErrorCode;
use std::cell::RefCell;
use std::ffi::{c_int, c_void, CStr};

/// A refusal an application maps to a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoTenant,
    NotProven,
    ContextConflict,
    TokenInvalid,
    TokenExpired,
    UnknownTenant,
    Suspended,
    Deleted,
    NotMember,
    OtherTenant,
    RowQuota,
    StorageQuota,
    MemberQuota,
    ApiRequestQuota,
    TransactionLimit,
}

/// Every refusal, in the order `tenant_error_codes()` lists them.
pub const ALL: [Refusal; 15] = [
    Refusal::NoTenant,
    Refusal::NotProven,
    Refusal::ContextConflict,
    Refusal::TokenInvalid,
    Refusal::TokenExpired,
    Refusal::UnknownTenant,
    Refusal::Suspended,
    Refusal::Deleted,
    Refusal::NotMember,
    Refusal::OtherTenant,
    Refusal::RowQuota,
    Refusal::StorageQuota,
    Refusal::MemberQuota,
    Refusal::ApiRequestQuota,
    Refusal::TransactionLimit,
];

impl Refusal {
    /// The stable SQLSTATE.
    pub fn sqlstate(self) -> &'static str {
        match self {
            Refusal::NoTenant => "PT001",
            Refusal::NotProven => "PT002",
            Refusal::ContextConflict => "PT005",
            Refusal::TokenInvalid => "PT003",
            Refusal::TokenExpired => "PT004",
            Refusal::UnknownTenant => "PT011",
            Refusal::Suspended => "PT012",
            Refusal::Deleted => "PT013",
            Refusal::NotMember => "PT014",
            Refusal::OtherTenant => "PT021",
            Refusal::RowQuota => "PT031",
            Refusal::StorageQuota => "PT032",
            Refusal::MemberQuota => "PT033",
            Refusal::ApiRequestQuota => "PT034",
            Refusal::TransactionLimit => "PT041",
        }
    }

    /// A short name for the refusal (`tenant_error_codes().refusal`).
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NoTenant => "no_tenant",
            Refusal::NotProven => "tenant_not_proven",
            Refusal::ContextConflict => "context_conflict",
            Refusal::TokenInvalid => "token_invalid",
            Refusal::TokenExpired => "token_expired",
            Refusal::UnknownTenant => "unknown_tenant",
            Refusal::Suspended => "tenant_suspended",
            Refusal::Deleted => "tenant_deleted",
            Refusal::NotMember => "not_a_member",
            Refusal::OtherTenant => "other_tenant_row",
            Refusal::RowQuota => "row_quota",
            Refusal::StorageQuota => "storage_quota",
            Refusal::MemberQuota => "member_quota",
            Refusal::ApiRequestQuota => "api_request_quota",
            Refusal::TransactionLimit => "transaction_limit",
        }
    }

    /// The HTTP status an API answers.
    pub fn http_status(self) -> i32 {
        match self {
            Refusal::NoTenant
            | Refusal::NotProven
            | Refusal::ContextConflict
            | Refusal::TokenInvalid
            | Refusal::TokenExpired => 401,
            Refusal::UnknownTenant => 404,
            Refusal::Deleted => 410,
            Refusal::ApiRequestQuota | Refusal::TransactionLimit => 429,
            Refusal::Suspended
            | Refusal::NotMember
            | Refusal::OtherTenant
            | Refusal::RowQuota
            | Refusal::StorageQuota
            | Refusal::MemberQuota => 403,
        }
    }

    /// When it is raised.
    pub fn meaning(self) -> &'static str {
        match self {
            Refusal::NoTenant => "no tenant in context: an insert, a quota or API count, with app.current_tenant unset",
            Refusal::NotProven => "pg_tenant.require_token is on and the tenant or user was not named by tenant_set_token in this transaction",
            Refusal::ContextConflict => "app.current_tenant (or app.current_user_id) and the claims of pg_tenant.context_source name different tenants (or users)",
            Refusal::TokenInvalid => "tenant_set_token: a malformed, tampered or wrongly signed token, an unknown kid, a wrong audience, a missing or non-UUID claim",
            Refusal::TokenExpired => "tenant_set_token: the token has expired (exp) or is not valid yet (nbf)",
            Refusal::UnknownTenant => "the tenant in context (or in a token) does not exist",
            Refusal::Suspended => "the tenant in context (or in a token) is suspended",
            Refusal::Deleted => "the tenant in context (or in a token) is deleted",
            Refusal::NotMember => "tenant_set_token with pg_tenant.token_requires_membership on: the token's user is not a member of its tenant",
            Refusal::OtherTenant => "an inserted row names another tenant than the one in context",
            Refusal::RowQuota => "a write would pass the tenant's row limit for a table",
            Refusal::StorageQuota => "a write would pass the tenant's storage limit",
            Refusal::MemberQuota => "a new member would pass the tenant's member limit",
            Refusal::ApiRequestQuota => "tenant_record_api_request past the tenant's monthly API request limit",
            Refusal::TransactionLimit => "the tenant already has as many open transactions as its max_transactions governor allows, and none ended within pg_tenant.governor_wait",
        }
    }

    /// The standard code the report is built with (see the module comment).
    pub fn carrier(self) -> PgSqlErrorCode {
        match self {
            Refusal::NotProven
            | Refusal::ContextConflict
            | Refusal::TokenInvalid
            | Refusal::TokenExpired => PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            Refusal::RowQuota
            | Refusal::StorageQuota
            | Refusal::MemberQuota
            | Refusal::ApiRequestQuota
            | Refusal::TransactionLimit => PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            _ => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        }
    }

    fn packed(self) -> c_int {
        pack(self.sqlstate())
    }
}

/// Packs a five-character SQLSTATE as Postgres' MAKE_SQLSTATE does.
pub fn pack(state: &str) -> c_int {
    state
        .bytes()
        .take(5)
        .enumerate()
        .fold(0, |packed, (i, ch)| {
            packed | ((c_int::from(ch.wrapping_sub(b'0')) & 0x3F) << (6 * i))
        })
}

/// The five-character SQLSTATE of a packed code.
pub fn unpack(mut packed: c_int) -> String {
    let mut state = String::new();
    for _ in 0..5 {
        state.push((((packed & 0x3F) as u8) + b'0') as char);
        packed >>= 6;
    }
    state
}

/// The refusal being raised: its carrier and real code, and its message
/// (to find it again when pgrx raised it once more as XX000).
struct Pending {
    carrier: c_int,
    code: c_int,
    message: String,
    /// Set once errfinish() gave the error its code: a later error with the
    /// same carrier is not ours.
    applied: bool,
}

thread_local! {
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// Our entry on Postgres' error_context_stack. Postgres runs one backend per
/// thread of one process, and only its main thread raises errors.
static mut CALLBACK: pg_sys::ErrorContextCallback = pg_sys::ErrorContextCallback {
    previous: std::ptr::null_mut(),
    callback: Some(apply_code_entry),
    arg: std::ptr::null_mut(),
};

static mut PREVIOUS_EMIT_LOG_HOOK: pg_sys::emit_log_hook_type = None;

// Not in pgrx's bindings (it keeps errcode() to itself); called only from
// inside errfinish(), where an error is being built.
#[cfg_attr(target_os = "windows", link(name = "postgres"))]
unsafe extern "C-unwind" {
    fn errcode(sqlerrcode: c_int) -> c_int;
    fn geterrcode() -> c_int;
}

/// `error_context_stack` holds `extern "C-unwind"` functions.
unsafe extern "C-unwind" fn apply_code_entry(arg: *mut c_void) {
    apply_code(arg)
}

/// Installs the emit_log_hook (from _PG_init).
pub fn init() {
    // SAFETY: _PG_init runs once per backend, on its main thread.
    unsafe {
        PREVIOUS_EMIT_LOG_HOOK = pg_sys::emit_log_hook;
        pg_sys::emit_log_hook = Some(restore_code_entry);
    }
}

/// Builds the report of a refusal: `message` gets the `pg_tenant:` prefix,
/// as every pg_tenant error; it is raised with `refusal.sqlstate()`.
pub fn refusal(
    refusal: Refusal,
    message: impl AsRef<str>,
    hint: impl Into<String>,
) -> pgrx::pg_sys::panic::ErrorReport {
    let report = super::report(refusal.carrier(), message, hint);
    let pending = Pending {
        carrier: refusal.carrier() as c_int,
        code: refusal.packed(),
        message: report.message().to_string(),
        applied: false,
    };
    PENDING.with(|cell| *cell.borrow_mut() = Some(pending));
    // SAFETY: main thread; links our static entry once (a walk of the
    // current chain, so it is never linked twice, which would loop).
    unsafe {
        let ours = &raw mut CALLBACK;
        let mut entry = pg_sys::error_context_stack;
        while !entry.is_null() {
            if entry == ours {
                return report;
            }
            entry = (*entry).previous;
        }
        (*ours).previous = pg_sys::error_context_stack;
        pg_sys::error_context_stack = ours;
    }
    report
}

/// A refusal built and then caught inside pg_tenant: nothing is pending.
pub fn forget() {
    PENDING.with(|cell| *cell.borrow_mut() = None);
    // SAFETY: main thread; unlinks our entry when it is on top.
    unsafe {
        let ours = &raw mut CALLBACK;
        if pg_sys::error_context_stack == ours {
            pg_sys::error_context_stack = (*ours).previous;
        }
    }
}

/// `emit_log_hook` holds an `extern "C-unwind"` function.
unsafe extern "C-unwind" fn restore_code_entry(edata: *mut pg_sys::ErrorData) {
    // SAFETY: as restore_code.
    unsafe { restore_code(edata) }
}

/// The SQLSTATE of an error pg_tenant caught itself (pgrx reports our codes
/// as XX000): the pending refusal's, when it is that error.
pub fn caught_sqlstate(code: PgSqlErrorCode, message: &str) -> String {
    let packed = code as c_int;
    PENDING
        .with(|cell| {
            cell.borrow().as_ref().and_then(|p| {
                let ours = (packed == p.carrier && !p.applied)
                    || packed == PgSqlErrorCode::ERRCODE_INTERNAL_ERROR as c_int;
                (ours && p.message == message).then_some(p.code)
            })
        })
        .map_or_else(|| unpack(packed), unpack)
}

/// The context callback: called by errfinish() for every message reported
/// while our entry is linked; gives the pending refusal its code, then
/// unlinks itself when on top (errfinish reads our `previous` after the
/// call, which stays as it was). `extern "C"`: a panic here aborts instead of
/// unwinding through errfinish.
extern "C" fn apply_code(_arg: *mut c_void) {
    // SAFETY: errfinish() is building an error: errcode()/geterrcode() act on it.
    let current = unsafe { geterrcode() };
    let code = PENDING.with(|cell| {
        let mut pending = cell.borrow_mut();
        let p = pending
            .as_mut()
            .filter(|p| !p.applied && p.carrier == current)?;
        p.applied = true;
        Some(p.code)
    });
    if let Some(code) = code {
        // SAFETY: as above; our entry is static, its `previous` untouched.
        unsafe {
            errcode(code);
            let ours = &raw mut CALLBACK;
            if pg_sys::error_context_stack == ours {
                pg_sys::error_context_stack = (*ours).previous;
            }
        }
    }
}

/// The emit_log_hook: a pending refusal that pgrx raised again as XX000
/// (same message) gets its code back before it is logged and sent.
unsafe extern "C" fn restore_code(edata: *mut pg_sys::ErrorData) {
    // SAFETY: Postgres passes the error being emitted.
    unsafe {
        if let Some(data) = edata.as_mut() {
            if data.elevel >= pg_sys::PGERROR as c_int
                && data.sqlerrcode == PgSqlErrorCode::ERRCODE_INTERNAL_ERROR as c_int
                && !data.message.is_null()
            {
                let message = CStr::from_ptr(data.message).to_bytes();
                let code = PENDING.with(|cell| {
                    cell.borrow()
                        .as_ref()
                        .filter(|p| p.message.as_bytes() == message)
                        .map(|p| p.code)
                });
                if let Some(code) = code {
                    data.sqlerrcode = code;
                }
            }
        }
        if let Some(previous) = PREVIOUS_EMIT_LOG_HOOK {
            previous(edata);
        }
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn codes_pack_as_postgres_does_and_are_distinct() {
        assert_eq!(
            pack("42501"),
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE as c_int
        );
        assert_eq!(unpack(pack("PT034")), "PT034");
        let mut codes: Vec<_> = ALL.iter().map(|r| r.sqlstate()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
        for r in ALL {
            assert!(r.sqlstate().starts_with("PT") && r.sqlstate().len() == 5);
            assert!([401, 403, 404, 410, 429].contains(&r.http_status()));
        }
    }
}
