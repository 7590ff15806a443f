//! `tenant_error_codes()`: the refusals an application maps to a response,
//! with their SQLSTATEs and HTTP statuses, from the same table the errors
//! are raised with (`error::sqlstate`), so an application can load the map
//! instead of copying it.

use crate::error::sqlstate;
use pgrx::prelude::*;

/// `tenant_error_codes()`: one row per refusal: its SQLSTATE, a short name,
/// the HTTP status an API answers, and when it is raised.
#[pg_extern(immutable, parallel_restricted)]
fn tenant_error_codes() -> TableIterator<
    'static,
    (
        name!(sqlstate, String),
        name!(refusal, String),
        name!(http_status, i32),
        name!(meaning, String),
    ),
> {
    let ours = sqlstate::ALL
        .iter()
        .map(|r| (r.sqlstate(), r.name(), r.http_status(), r.meaning()));
    TableIterator::new(ours.chain(STANDARD).map(|(code, name, status, meaning)| {
        (
            code.to_string(),
            name.to_string(),
            status,
            meaning.to_string(),
        )
    }))
}

/// The standard SQLSTATEs an application also meets from pg_tenant's
/// context (Postgres raises them for other reasons too, with the same
/// meaning for the response).
const STANDARD: [(&str, &str, i32, &str); 3] = [
    ("22P02", "malformed_context", 400, "app.current_tenant or app.current_user_id is not a UUID, app.bypass_rls not a boolean"),
    ("25000", "context_outlives_transaction", 500, "a context setting was named for longer than the transaction (SET, set_config(..., false), ALTER ROLE ... SET): a bug in the application or its pool"),
    ("42501", "permission_denied", 403, "an ordinary privilege refusal: a table the role may not use, a management function it may not call, another tenant's row in an UPDATE (row-level security)"),
];
