//! pg_tenant from Rust with tokio-postgres: name the tenant with a bound
//! parameter (text, or a native `Uuid` through `tenant_set(uuid)`) and with a
//! signed token, read and write as an ordinary role, and answer every
//! refusal with an HTTP status chosen by SQLSTATE alone.
//!
//! Run by examples/run.sh: EXAMPLE_DSN=... EXAMPLE_STRICT_DSN=... EXAMPLE_JWT_SECRET=... pg-tenant-example

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// SQLSTATE -> HTTP status: README "Errors" (also `SELECT * FROM tenant_error_codes()`).
const HTTP_STATUS: [(&str, i32); 18] = [
    ("PT001", 401),
    ("PT002", 401),
    ("PT003", 401),
    ("PT004", 401),
    ("PT005", 401),
    ("PT011", 404),
    ("PT012", 403),
    ("PT013", 410),
    ("PT014", 403),
    ("PT021", 403),
    ("PT031", 403),
    ("PT032", 403),
    ("PT033", 403),
    ("PT034", 429),
    ("PT041", 429),
    ("22P02", 400),
    ("25000", 500),
    ("42501", 403),
];

const OWNER: Uuid = Uuid::from_u128(0xa0000000_0000_4000_8000_00000000000a);
const STRANGER: Uuid = Uuid::from_u128(0xb0000000_0000_4000_8000_00000000000b);

/// The HTTP status for a database error: by its SQLSTATE, nothing else.
fn status_of(error: &tokio_postgres::Error) -> i32 {
    let code = error.code().map(|c| c.code()).unwrap_or("");
    HTTP_STATUS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(500, |(_, s)| *s)
}

fn token(tenant: Uuid, user: Uuid, expires_in: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = serde_json::json!({"tenant_id": tenant, "sub": user, "exp": now + expires_in});
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("example-hs".into());
    let secret = std::env::var("EXAMPLE_JWT_SECRET").expect("EXAMPLE_JWT_SECRET");
    encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn connect(var: &str) -> Client {
    let dsn = std::env::var(var).unwrap_or_else(|_| panic!("{var}"));
    let (client, connection) = tokio_postgres::connect(&dsn, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

type Steps<'a> = Vec<(&'a str, Vec<Box<dyn ToSql + Sync + Send>>)>;

/// Runs the steps in one transaction; returns the error, if any.
async fn attempt(client: &mut Client, steps: &Steps<'_>) -> Option<tokio_postgres::Error> {
    let tx = client.transaction().await.expect("begin");
    for (sql, params) in steps {
        let params: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        if let Err(error) = tx.query(*sql, &params).await {
            return Some(error); // dropping tx rolls back
        }
    }
    tx.rollback().await.expect("rollback");
    None
}

async fn run_cases(client: &mut Client, role: &str, cases: Vec<(&str, i32, Steps<'_>)>) -> usize {
    let mut failures = 0;
    for (label, expected, steps) in cases {
        match attempt(client, &steps).await {
            None => {
                println!("FAILED: rust {role}: {label}: no error (expected HTTP {expected})");
                failures += 1;
            }
            Some(error) => {
                let status = status_of(&error);
                let code = error
                    .code()
                    .map(|c| c.code().to_string())
                    .unwrap_or_else(|| error.to_string());
                let mark = if status == expected { "ok" } else { "FAILED" };
                println!("{mark}: rust {role}: {label}: {code} -> HTTP {status} (expected {expected})");
                failures += usize::from(status != expected);
            }
        }
    }
    failures
}

macro_rules! steps {
    ($(($sql:expr $(, $param:expr)*)),* $(,)?) => {
        vec![$(($sql, vec![$(Box::new($param) as Box<dyn ToSql + Sync + Send>),*])),*]
    };
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut app = connect("EXAMPLE_DSN").await;
    let map: BTreeMap<String, i32> = app
        .query(
            "SELECT sqlstate, http_status FROM tenant_error_codes()",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let ours: BTreeMap<String, i32> = HTTP_STATUS
        .iter()
        .map(|(c, s)| (c.to_string(), *s))
        .collect();
    assert_eq!(map, ours, "the map differs from tenant_error_codes()");

    let (acme, globex): (Uuid, Uuid) = {
        let tx = app.transaction().await.unwrap();
        let acme = tx
            .query_one("SELECT tenant_set($1::text)", &[&"acme"])
            .await
            .unwrap()
            .get(0);
        let globex = tx
            .query_one("SELECT tenant_set($1::text)", &[&"globex"])
            .await
            .unwrap()
            .get(0);
        tx.rollback().await.unwrap();
        (acme, globex)
    };
    // 1. The tenant as a bound text parameter; the row lands in it.
    {
        let tx = app.transaction().await.unwrap();
        tx.execute(
            "SELECT set_config('app.current_tenant', $1, true)",
            &[&acme.to_string()],
        )
        .await
        .unwrap();
        let row = tx
            .query_one(
                "INSERT INTO notes (body) VALUES ($1) RETURNING tenant_id",
                &[&"from rust"],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, Uuid>(0), acme);
        tx.commit().await.unwrap();
    }
    // 2. A native Uuid: set_config's parameter is text, which a Uuid cannot be
    //    serialized as (an error on the client); tenant_set($1::uuid) takes it
    //    (an untyped $1 would resolve to tenant_set(text)).
    {
        let tx = app.transaction().await.unwrap();
        let refused = tx
            .execute(
                "SELECT set_config('app.current_tenant', $1, true)",
                &[&globex],
            )
            .await;
        assert!(
            refused.is_err_and(|e| e.code().is_none()),
            "a Uuid bound to set_config's text was accepted"
        );
        tx.rollback().await.unwrap();
        let tx = app.transaction().await.unwrap();
        tx.execute("SELECT tenant_set($1::uuid)", &[&globex])
            .await
            .unwrap();
        tx.execute("INSERT INTO notes (body) VALUES ('globex, from rust')", &[])
            .await
            .unwrap();
        let seen: Vec<(Uuid, String)> = tx
            .query("SELECT tenant_id, body FROM notes ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert!(
            seen.iter().all(|(t, _)| *t == globex),
            "a row of another tenant was seen: {seen:?}"
        );
        assert!(seen.iter().any(|(_, b)| b == "globex, from rust"));
        tx.commit().await.unwrap();
    }
    // 3. A signed token names tenant and user.
    {
        let tx = app.transaction().await.unwrap();
        let named: Uuid = tx
            .query_one("SELECT tenant_set_token($1)", &[&token(acme, OWNER, 300)])
            .await
            .unwrap()
            .get(0);
        let user: Uuid = tx
            .query_one("SELECT current_tenant_user_id()", &[])
            .await
            .unwrap()
            .get(0);
        let bodies: Vec<String> = tx
            .query("SELECT body FROM notes ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!((named, user), (acme, OWNER));
        assert!(
            bodies.iter().any(|b| b == "from rust")
                && !bodies.iter().any(|b| b == "globex, from rust")
        );
        tx.commit().await.unwrap();
    }
    // 4. Every refusal, answered by SQLSTATE alone.
    let mut failures = run_cases(
        &mut app,
        "example_app",
        vec![
            (
                "no tenant in context",
                401,
                steps![("INSERT INTO notes (body) VALUES ('x')")],
            ),
            (
                "malformed tenant",
                400,
                steps![
                    ("SELECT set_config('app.current_tenant', 'acme', true)"),
                    ("SELECT count(*) FROM notes")
                ],
            ),
            (
                "unknown tenant",
                404,
                steps![("SELECT tenant_set($1::text)", "nobody")],
            ),
            (
                "suspended tenant",
                403,
                steps![("SELECT tenant_set($1::text)", "paused")],
            ),
            (
                "deleted tenant",
                410,
                steps![("SELECT tenant_set($1::text)", "gone")],
            ),
            (
                "tenant set for the session",
                500,
                steps![
                    (
                        "SELECT set_config('app.current_tenant', $1, false)",
                        acme.to_string()
                    ),
                    ("SELECT count(*) FROM notes")
                ],
            ),
            (
                "invalid token",
                401,
                steps![("SELECT tenant_set_token($1)", "not a token")],
            ),
            (
                "expired token",
                401,
                steps![("SELECT tenant_set_token($1)", token(acme, OWNER, -3600))],
            ),
            (
                "row for another tenant",
                403,
                steps![
                    ("SELECT tenant_set($1::uuid)", acme),
                    (
                        "INSERT INTO notes (tenant_id, body) VALUES ($1, 'x')",
                        globex
                    )
                ],
            ),
            (
                "permission denied",
                403,
                steps![("SELECT tenant_suspend('acme')")],
            ),
            (
                "row quota",
                403,
                steps![
                    ("SELECT tenant_set($1::text)", "rowcap"),
                    ("INSERT INTO notes (body) VALUES ('x')")
                ],
            ),
            (
                "storage quota",
                403,
                steps![
                    ("SELECT tenant_set($1::text)", "bytecap"),
                    ("INSERT INTO notes (body) VALUES ('x')")
                ],
            ),
            (
                "member quota",
                403,
                steps![
                    ("SELECT tenant_set($1::text)", "seatcap"),
                    (
                        "SELECT set_config('app.current_user_id', $1, true)",
                        OWNER.to_string()
                    ),
                    ("SELECT tenant_member_add('seatcap', $1)", STRANGER)
                ],
            ),
            (
                "API request quota",
                429,
                steps![
                    ("SELECT tenant_set($1::text)", "apicap"),
                    ("SELECT tenant_record_api_request()")
                ],
            ),
        ],
    )
    .await;

    let mut strict = connect("EXAMPLE_STRICT_DSN").await;
    {
        let tx = strict.transaction().await.unwrap();
        tx.execute("SELECT tenant_set_token($1)", &[&token(acme, OWNER, 300)])
            .await
            .unwrap();
        let n: i64 = tx
            .query_one("SELECT count(*) FROM notes", &[])
            .await
            .unwrap()
            .get(0);
        assert!(n >= 1);
        tx.commit().await.unwrap();
    }
    let claims = serde_json::json!({"tenant_id": acme}).to_string();
    failures += run_cases(
        &mut strict,
        "example_strict",
        vec![
            (
                "tenant not named by a token",
                401,
                steps![
                    (
                        "SELECT set_config('app.current_tenant', $1, true)",
                        acme.to_string()
                    ),
                    ("SELECT count(*) FROM notes")
                ],
            ),
            (
                "token user not a member",
                403,
                steps![("SELECT tenant_set_token($1)", token(acme, STRANGER, 300))],
            ),
            (
                "claims and setting disagree",
                401,
                steps![
                    ("SELECT set_config('request.jwt.claims', $1, true)", claims),
                    (
                        "SELECT set_config('app.current_tenant', $1, true)",
                        globex.to_string()
                    ),
                    ("SELECT count(*) FROM notes")
                ],
            ),
        ],
    )
    .await;
    if failures == 0 {
        println!("rust: ok");
    } else {
        println!("rust: {failures} failures");
        std::process::exit(1);
    }
}
