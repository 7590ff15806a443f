"""pg_tenant from Python with psycopg 3: name the tenant with a bound
parameter (text, or a native uuid through tenant_set(uuid)) and with a signed
token, read and write as an ordinary role, and answer every refusal with an
HTTP status chosen by SQLSTATE alone.

Run by examples/run.sh:  EXAMPLE_DSN=... EXAMPLE_STRICT_DSN=... EXAMPLE_JWT_SECRET=... python example.py
"""
import os
import sys
import time
import uuid

import jwt  # PyJWT
import psycopg

# SQLSTATE -> HTTP status: README "Errors" (also SELECT * FROM tenant_error_codes()).
HTTP_STATUS = {
    "PT001": 401, "PT002": 401, "PT003": 401, "PT004": 401, "PT005": 401,
    "PT011": 404, "PT012": 403, "PT013": 410, "PT014": 403,
    "PT021": 403,
    "PT031": 403, "PT032": 403, "PT033": 403, "PT034": 429, "PT041": 429,
    "22P02": 400, "25000": 500, "42501": 403,
}

OWNER = uuid.UUID("a0000000-0000-4000-8000-00000000000a")  # owner of acme and seatcap
STRANGER = uuid.UUID("b0000000-0000-4000-8000-00000000000b")
SECRET = os.environ["EXAMPLE_JWT_SECRET"].encode()


def token(tenant, user, expires_in=300):
    claims = {"tenant_id": str(tenant), "sub": str(user), "exp": int(time.time()) + expires_in}
    return jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "example-hs"})


def status_of(error):
    """The HTTP status for a database error: by its SQLSTATE, nothing else."""
    return HTTP_STATUS.get(error.sqlstate, 500)


def main():
    failures = 0
    with psycopg.connect(os.environ["EXAMPLE_DSN"], autocommit=True) as conn:
        # The map agrees with the database's own.
        rows = conn.execute("SELECT sqlstate, http_status FROM tenant_error_codes()").fetchall()
        assert dict(rows) == HTTP_STATUS, f"map differs from tenant_error_codes(): {dict(rows)}"

        # 1. The tenant as a bound text parameter; rows land in it and only its rows are seen.
        with conn.transaction():
            acme = conn.execute("SELECT tenant_set(%s::text)", ["acme"]).fetchone()[0]
            globex = conn.execute("SELECT tenant_set(%s::text)", ["globex"]).fetchone()[0]
        with conn.transaction():
            conn.execute("SELECT set_config('app.current_tenant', %s, true)", [str(acme)])
            row = conn.execute("INSERT INTO notes (body) VALUES (%s) RETURNING tenant_id", ["from python"]).fetchone()
            assert row[0] == acme, row
        # 2. A native uuid parameter: set_config takes text only (psycopg sends a
        #    uuid typed, so Postgres finds no set_config(unknown, uuid, boolean):
        #    42883); tenant_set(uuid) takes it as it is.
        with conn.transaction():
            try:
                with conn.transaction():
                    conn.execute("SELECT set_config('app.current_tenant', %s, true)", [globex])
                raise AssertionError("set_config with a uuid parameter was accepted")
            except psycopg.errors.UndefinedFunction:
                pass
            conn.execute("SELECT tenant_set(%s)", [globex])
            conn.execute("INSERT INTO notes (body) VALUES ('globex, from python')")
            seen = conn.execute("SELECT tenant_id, body FROM notes ORDER BY id").fetchall()
            assert all(t == globex for t, _ in seen) and ("globex, from python" in [b for _, b in seen]), seen
        # 3. A signed token names tenant and user.
        with conn.transaction():
            named = conn.execute("SELECT tenant_set_token(%s)", [token(acme, OWNER)]).fetchone()[0]
            user = conn.execute("SELECT current_tenant_user_id()").fetchone()[0]
            bodies = [r[0] for r in conn.execute("SELECT body FROM notes ORDER BY id")]
            assert (named, user) == (acme, OWNER) and "from python" in bodies and "globex, from python" not in bodies

        # A token without kid (PostgREST's and Supabase's HS256 tokens carry none)
        # is checked against the one key when the key set holds only one.
        with conn.transaction():
            kidless = jwt.encode({"tenant_id": str(acme), "sub": str(OWNER), "exp": int(time.time()) + 300},
                                 SECRET, algorithm="HS256")
            assert conn.execute("SELECT tenant_set_token(%s)", [kidless]).fetchone()[0] == acme

        # 4. Every refusal, answered by SQLSTATE alone.
        cases = [
            ("no tenant in context", 401, [("INSERT INTO notes (body) VALUES ('x')", [])]),
            ("malformed tenant", 400, [("SELECT set_config('app.current_tenant', 'acme', true)", []),
                                        ("SELECT count(*) FROM notes", [])]),
            ("unknown tenant", 404, [("SELECT tenant_set(%s::text)", ["nobody"])]),
            ("suspended tenant", 403, [("SELECT tenant_set(%s::text)", ["paused"])]),
            ("deleted tenant", 410, [("SELECT tenant_set(%s::text)", ["gone"])]),
            ("tenant set for the session", 500, [("SELECT set_config('app.current_tenant', %s, false)", [str(acme)]),
                                                  ("SELECT count(*) FROM notes", [])]),
            ("invalid token", 401, [("SELECT tenant_set_token(%s)", ["not a token"])]),
            ("expired token", 401, [("SELECT tenant_set_token(%s)", [token(acme, OWNER, -3600)])]),
            ("row for another tenant", 403, [("SELECT tenant_set(%s)", [acme]),
                                              ("INSERT INTO notes (tenant_id, body) VALUES (%s, 'x')", [globex])]),
            ("permission denied", 403, [("SELECT tenant_suspend('acme')", [])]),
            ("row quota", 403, [("SELECT tenant_set(%s::text)", ["rowcap"]), ("INSERT INTO notes (body) VALUES ('x')", [])]),
            ("storage quota", 403, [("SELECT tenant_set(%s::text)", ["bytecap"]), ("INSERT INTO notes (body) VALUES ('x')", [])]),
            ("member quota", 403, [("SELECT tenant_set(%s::text)", ["seatcap"]),
                                    ("SELECT set_config('app.current_user_id', %s, true)", [str(OWNER)]),
                                    ("SELECT tenant_member_add('seatcap', %s)", [STRANGER])]),
            ("API request quota", 429, [("SELECT tenant_set(%s::text)", ["apicap"]), ("SELECT tenant_record_api_request()", [])]),
        ]
        failures += run_cases(conn, "example_app", cases)

    with psycopg.connect(os.environ["EXAMPLE_STRICT_DSN"], autocommit=True) as strict:
        with strict.transaction():
            strict.execute("SELECT tenant_set_token(%s)", [token(acme, OWNER)])
            assert strict.execute("SELECT count(*) FROM notes").fetchone()[0] >= 1
        cases = [
            ("tenant not named by a token", 401, [("SELECT set_config('app.current_tenant', %s, true)", [str(acme)]),
                                                   ("SELECT count(*) FROM notes", [])]),
            ("token user not a member", 403, [("SELECT tenant_set_token(%s)", [token(acme, STRANGER)])]),
            ("claims and setting disagree", 401, [("SELECT set_config('request.jwt.claims', %s, true)", ['{"tenant_id": "%s"}' % acme]),
                                                   ("SELECT set_config('app.current_tenant', %s, true)", [str(globex)]),
                                                   ("SELECT count(*) FROM notes", [])]),
        ]
        failures += run_cases(strict, "example_strict", cases)
    print(f"python: {'ok' if failures == 0 else f'{failures} failures'}")
    return 1 if failures else 0


def run_cases(conn, role, cases):
    failures = 0
    for label, expected, steps in cases:
        try:
            with conn.transaction():
                for sql, params in steps:
                    conn.execute(sql, params)
            print(f"FAILED: python {role}: {label}: no error (expected HTTP {expected})")
            failures += 1
        except psycopg.Error as error:
            status = status_of(error)
            mark = "ok" if status == expected else "FAILED"
            print(f"{mark}: python {role}: {label}: {error.sqlstate} -> HTTP {status} (expected {expected})")
            failures += status != expected
    return failures


if __name__ == "__main__":
    sys.exit(main())
