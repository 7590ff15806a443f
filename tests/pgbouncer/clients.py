"""Concurrent application clients behind a real PgBouncer in transaction mode.

Started by tests/pgbouncer/run.sh, which sets up the database, the roles and
PgBouncer. Each client holds ONE client connection to PgBouncer for its whole
life; PgBouncer hands its transactions to whichever of its (at most
default_pool_size) server connections is free, and does not reset a server
connection between clients (transaction mode never runs server_reset_query).
So a session-level `SET app.current_tenant` by one client stays on a server
connection that the next client is handed.

Three kinds of client:
  correct     BEGIN; set_config('app.current_tenant', $t, true); read; insert; COMMIT
              -> every row read and the inserted row carry $t.
  session     names its tenant for the whole session (SET app.current_tenant,
              or set_config(..., false)) at start and now and then, and inside
              some transactions with SET (not LOCAL); then reads and inserts
              without naming it per transaction -> refused with 25000.
  tenantless  never names a tenant -> refused with 25000 when it lands on a
              connection another client left a tenant on; otherwise 0 rows and
              an insert refused with PT001. Any row read or written is a leak.

Every transaction first reads pg_backend_pid() and the connection's
app.current_tenant (current_setting, which pg_tenant does not guard), so the
report can say which transactions landed on a polluted connection.

Prints one line per assertion, `ok: ...` or `FAILED: ...`; exits 1 on any
failure. Values are always bound parameters, except in `SET`, which cannot
take one: there the value is quoted by psycopg.sql.Literal.
"""

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter

import psycopg
from psycopg import sql

REFUSED = "25000"  # invalid_transaction_state: the context outlives its transaction
NO_TENANT = "PT001"  # pg_tenant: no tenant in context
PREFIX = "pg_tenant: app.current_tenant"

READ = "SELECT tenant_id::text, count(*) FROM items GROUP BY tenant_id"
INSERT = "INSERT INTO items (payload) VALUES (%s) RETURNING tenant_id::text"
PROBE = "SELECT pg_backend_pid(), current_setting('app.current_tenant', true)"

failures = 0


def ok(msg):
    print(f"ok: {msg}", flush=True)


def failed(msg, details=()):
    global failures
    failures += 1
    print(f"FAILED: {msg}", flush=True)
    for d in details:
        print(f"  {d}", flush=True)


class Outcome:
    """What one statement did: rows, or the error's SQLSTATE and message."""

    def __init__(self, rows=None, error=None):
        self.rows = rows
        self.sqlstate = error.sqlstate if error is not None else None
        self.message = error.diag.message_primary if error is not None else None

    @property
    def refused(self):
        """Refused by pg_tenant's guard: 25000 with its message."""
        return self.sqlstate == REFUSED and (self.message or "").startswith(PREFIX)

    def describe(self):
        if self.sqlstate is None:
            return f"rows {self.rows}"
        return f"{self.sqlstate} {self.message}"


def run(conn, query, params=None):
    """Runs one statement in the open transaction; on error, rolls back to a
    savepoint so the transaction can go on."""
    conn.execute("SAVEPOINT step")
    try:
        rows = conn.execute(query, params).fetchall()
    except psycopg.errors.Error as e:
        if conn.broken:
            raise
        conn.execute("ROLLBACK TO SAVEPOINT step")
        return Outcome(error=e)
    conn.execute("RELEASE SAVEPOINT step")
    return Outcome(rows=rows)


class Client(threading.Thread):
    def __init__(self, kind, idx, args, tenants, own=None, how=None):
        super().__init__(name=f"{kind}{idx}", daemon=True)
        self.kind, self.idx, self.args = kind, idx, args
        self.tenants, self.own, self.how = tenants, own, how
        self.rng = random.Random(f"{kind}{idx}")
        self.c = Counter()
        self.errors = Counter()
        self.samples = []  # a few details of anything unexpected
        self.pids = set()
        self.done = 0
        self.fatal = None

    def sample(self, text):
        if len(self.samples) < 5:
            self.samples.append(f"{self.name} txn {self.done}: {text}")

    def connect(self):
        return psycopg.connect(
            host="127.0.0.1",
            port=self.args.bouncer_port,
            dbname=self.args.db,
            user=self.args.app,
            autocommit=True,
            # PgBouncer 1.18 in transaction mode cannot keep named prepared
            # statements: use the unnamed statement only.
            prepare_threshold=None,
            connect_timeout=10,
        )

    def run(self):
        try:
            with self.connect() as conn:
                for n in range(self.args.txns):
                    if time.monotonic() > self.args.deadline:
                        break
                    getattr(self, f"txn_{self.kind}")(conn, n)
                    self.done += 1
        except Exception as e:  # the connection broke: the test reports it
            self.fatal = f"{type(e).__name__}: {e}"

    def finish(self, conn):
        try:
            conn.execute("COMMIT")
        except psycopg.errors.Error as e:
            if conn.broken:
                raise
            self.errors[f"COMMIT {e.sqlstate}"] += 1
            self.sample(f"COMMIT: {e.sqlstate} {e.diag.message_primary}")
            conn.execute("ROLLBACK")

    def probe(self, conn):
        pid, setting = conn.execute(PROBE).fetchone()
        self.pids.add(pid)
        return setting or ""

    # (a) names its tenant for the transaction only.
    def txn_correct(self, conn, n):
        tenant = self.rng.choice(self.tenants)
        conn.execute("BEGIN")
        setting = self.probe(conn)
        if setting not in ("", tenant):
            self.c["polluted"] += 1
        try:
            conn.execute("SELECT set_config('app.current_tenant', %s, true)", (tenant,))
            rows = conn.execute(READ).fetchall()
            self.c["reads"] += 1
            for tid, count in rows:
                self.c["rows"] += count
                if tid != tenant:
                    self.c["wrong_rows"] += count
                    self.sample(f"read {count} rows of {tid} under {tenant}")
            (tid,) = conn.execute(INSERT, (f"a{self.idx}:{tenant}:{n}",)).fetchone()
            self.c["inserts"] += 1
            if tid != tenant:
                self.c["wrong_inserts"] += 1
                self.sample(f"insert under {tenant} got tenant {tid}")
        except psycopg.errors.Error as e:
            if conn.broken:
                raise
            self.errors[e.sqlstate] += 1
            self.sample(f"refused on a connection set to {setting!r}: {e.sqlstate} {e.diag.message_primary}")
            conn.execute("ROLLBACK")
            return
        self.finish(conn)

    def name_for_session(self, conn):
        if self.how == "set":
            conn.execute(sql.SQL("SET app.current_tenant = {}").format(sql.Literal(self.own)))
        else:
            conn.execute("SELECT set_config('app.current_tenant', %s, false)", (self.own,))

    # (b) names its tenant for the whole session, never for the transaction.
    def txn_session(self, conn, n):
        if n % 25 == 0:  # at start and now and then, in a transaction of its own
            self.name_for_session(conn)
            self.c["session_sets"] += 1
        conn.execute("BEGIN")
        if n % 10 == 5:  # SET without LOCAL inside the transaction: outlives it too
            conn.execute(sql.SQL("SET app.current_tenant = {}").format(sql.Literal(self.own)))
            self.c["in_txn_sets"] += 1
        self.unnamed_txn(conn, f"b{self.idx}:{n}")

    # (c) never names a tenant.
    def txn_tenantless(self, conn, n):
        conn.execute("BEGIN")
        self.unnamed_txn(conn, f"c{self.idx}:{n}")

    def unnamed_txn(self, conn, payload):
        """Reads and inserts without naming a tenant for this transaction."""
        setting = self.probe(conn)
        polluted = setting != ""
        self.c["polluted" if polluted else "clean"] += 1
        read = run(conn, READ)
        insert = run(conn, INSERT, (payload,))
        for what, o in (("read", read), ("insert", insert)):
            if o.refused:
                self.c[f"{what}_refused"] += 1
            elif o.sqlstate == NO_TENANT and what == "insert":
                self.c["insert_no_tenant"] += 1
            elif o.sqlstate is not None:
                self.errors[f"{what} {o.sqlstate}"] += 1
                self.sample(f"{what} on a connection set to {setting!r}: {o.describe()}")
        if read.sqlstate is None:
            visible = sum(count for _, count in read.rows)
            if visible == 0:
                self.c["empty_reads"] += 1
            else:
                self.c["leaky_reads"] += 1
                self.c["leaked_rows"] += visible
                other = sum(count for tid, count in read.rows if tid != self.own)
                self.c["leaked_rows_other_tenant"] += other
                if other or not self.samples:  # another client's rows first
                    self.sample(f"read on a connection set to {setting!r} saw {read.rows}")
        if polluted and read.refused and insert.refused:
            self.c["polluted_refused"] += 1
        if insert.sqlstate is None:
            (tid,) = insert.rows[0]
            self.c["leaky_inserts"] += 1
            if tid != self.own:
                self.c["leaky_inserts_other_tenant"] += 1
                self.sample(f"insert on a connection set to {setting!r} went in as tenant {tid}")
        self.finish(conn)


def total(clients, key):
    return sum(cl.c[key] for cl in clients)


def errors_of(clients):
    e = Counter()
    for cl in clients:
        e.update(cl.errors)
    return e


def samples_of(clients):
    return [s for cl in clients for s in cl.samples][:8]


def direct():
    """A superuser connection straight to the cluster (PGHOST/PGPORT/PGUSER)."""
    return psycopg.connect(dbname=os.environ["PG_TENANT_TEST_DB"], autocommit=True)


def concurrent(args, tenants):
    n_correct, n_session, n_tenantless = args.correct, args.session, args.tenantless
    # Each session-level client has a tenant of its own, which correct clients
    # use too; tenantless clients have none.
    correct = [Client("correct", i, args, tenants) for i in range(n_correct)]
    session = [
        Client("session", i, args, tenants, own=tenants[i % len(tenants)], how=("set", "set_config")[i % 2])
        for i in range(n_session)
    ]
    tenantless = [Client("tenantless", i, args, tenants) for i in range(n_tenantless)]
    everyone = correct + session + tenantless
    started = time.monotonic()
    for cl in everyone:
        cl.start()
    for cl in everyone:
        cl.join(max(0.0, args.deadline + 15 - time.monotonic()))
    elapsed = time.monotonic() - started
    hung = [cl.name for cl in everyone if cl.is_alive()]
    if hung:
        failed(f"clients still running past the time budget: {', '.join(hung)}")
        sys.stdout.flush()
        os._exit(1)

    fatal = [f"{cl.name}: {cl.fatal}" for cl in everyone if cl.fatal]
    done = sum(cl.done for cl in everyone)
    planned = args.txns * len(everyone)
    if fatal or done != planned:
        failed(f"clients finished {done} of {planned} transactions in {elapsed:.1f}s", fatal)
    else:
        ok(f"{len(everyone)} clients ({n_correct} correct, {n_session} session-level, {n_tenantless} tenantless), "
           f"one PgBouncer connection each, finished {args.txns} transactions each in {elapsed:.1f}s")

    pids = set().union(*(cl.pids for cl in everyone))
    movers = sum(1 for cl in everyone if len(cl.pids) > 1)
    if 0 < len(pids) <= args.pool_size and movers > 0:
        ok(f"PgBouncer ran them on {len(pids)} server connections (pool size {args.pool_size}); "
           f"{movers} of {len(everyone)} clients had their transactions on more than one of them")
    else:
        failed(f"not transaction pooling as configured: {len(pids)} server connections "
               f"(pool size {args.pool_size}), {movers} clients moved between them")

    with direct() as su:
        (a_rows, a_wrong) = su.execute(
            "SELECT count(*), count(*) FILTER (WHERE tenant_id::text <> split_part(payload, ':', 2)) "
            "FROM items WHERE payload LIKE 'a%'").fetchone()
        (b_rows,) = su.execute("SELECT count(*) FROM items WHERE payload LIKE 'b%'").fetchone()
        (c_rows,) = su.execute("SELECT count(*) FROM items WHERE payload LIKE 'c%'").fetchone()
        c_rows_by_tenant = su.execute(
            "SELECT tenant_id::text, count(*) FROM items WHERE payload LIKE 'c%' GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()

    # (a) correct clients.
    errs = errors_of(correct)
    txns = sum(cl.done for cl in correct)
    if errs:
        failed(f"correct clients were refused in {sum(errs.values())} of {txns} transactions: {dict(errs)}",
               samples_of(correct))
    else:
        ok(f"correct clients: none of {txns} transactions refused "
           f"({total(correct, 'polluted')} of them ran on a connection left with another client's session-level tenant)")
    reads, rows, wrong = total(correct, "reads"), total(correct, "rows"), total(correct, "wrong_rows")
    if wrong == 0 and reads > 0 and rows > 0:
        ok(f"0 rows read under a wrong tenant ({rows} rows in {reads} reads by correct clients)")
    else:
        failed(f"correct clients read {wrong} rows of another tenant ({rows} rows in {reads} reads)",
               samples_of(correct))
    inserts, wrong_ins = total(correct, "inserts"), total(correct, "wrong_inserts")
    if wrong_ins == 0 and a_wrong == 0 and inserts > 0 and a_rows == inserts:
        ok(f"every insert by a correct client was filed under its own tenant ({inserts} inserts, "
           f"{a_rows} rows in the table)")
    else:
        failed(f"correct inserts: {wrong_ins} of {inserts} returned another tenant; in the table "
               f"{a_wrong} of {a_rows} rows carry another tenant than their client named")

    # (b) session-level misuse.
    pol, clean = total(session, "polluted"), total(session, "clean")
    rr, ir = total(session, "read_refused"), total(session, "insert_refused")
    leaky_r, leaky_i = total(session, "leaky_reads"), total(session, "leaky_inserts")
    errs = errors_of(session)
    if total(session, "polluted_refused") == pol > 0 and leaky_r == leaky_i == 0 and not errs and b_rows == 0:
        ok(f"every session-level misuse refused with 25000 ({rr} reads and {ir} inserts refused; "
           f"{total(session, 'session_sets')} session-level sets, {total(session, 'in_txn_sets')} SET inside a transaction; "
           f"{clean} transactions landed on a connection without any tenant: "
           f"{total(session, 'empty_reads')} empty reads, {total(session, 'insert_no_tenant')} inserts refused with PT001)")
    else:
        failed(f"session-level misuse not refused: of {pol} transactions on a connection carrying a tenant, "
               f"{rr} reads and {ir} inserts were refused with 25000; {leaky_r} reads returned "
               f"{total(session, 'leaked_rows')} rows ({total(session, 'leaked_rows_other_tenant')} of another "
               f"client's tenant), {leaky_i} inserts succeeded ({total(session, 'leaky_inserts_other_tenant')} "
               f"into another client's tenant; {b_rows} such rows in the table); other errors {dict(errs)}",
               samples_of(session))

    # (c) tenantless clients.
    t_pol, t_clean = total(tenantless, "polluted"), total(tenantless, "clean")
    tr, ti = total(tenantless, "read_refused"), total(tenantless, "insert_refused")
    t42 = total(tenantless, "insert_no_tenant")
    empty = total(tenantless, "empty_reads")
    leaky_r, leaky_i = total(tenantless, "leaky_reads"), total(tenantless, "leaky_inserts")
    errs = errors_of(tenantless)
    if leaky_r == 0 and leaky_i == 0 and not errs and c_rows == 0:
        ok(f"tenantless clients saw 0 rows and wrote 0 rows ({tr + ti} refused with 25000 "
           f"({tr} reads, {ti} inserts), {t42} inserts with PT001, {empty} empty reads)")
    else:
        failed(f"tenantless clients leaked: {leaky_r} of {tr + empty + leaky_r} reads returned "
               f"{total(tenantless, 'leaked_rows')} rows, {leaky_i} inserts succeeded "
               f"({c_rows} rows in the table, by tenant: {c_rows_by_tenant[:4]}); refused with 25000: "
               f"{tr} reads, {ti} inserts; PT001: {t42}; empty reads: {empty}; other errors {dict(errs)}",
               samples_of(tenantless))

    # The test proves something only if tenantless transactions really landed
    # on connections another client had left a tenant on, and were refused there.
    if t_pol > 0 and tr > 0 and total(tenantless, "polluted_refused") == t_pol:
        ok(f"pollution exercised: {t_pol} of {t_pol + t_clean} tenantless transactions landed on a server "
           f"connection left with another client's tenant, and all {t_pol} were refused with 25000")
    elif t_pol == 0:
        failed(f"pollution not exercised: none of {t_clean} tenantless transactions landed on a polluted "
               f"connection (the test proved nothing)")
    else:
        failed(f"pollution exercised but not refused: {t_pol} of {t_pol + t_clean} tenantless transactions "
               f"landed on a connection left with another client's tenant; "
               f"{total(tenantless, 'polluted_refused')} of them were refused with 25000 (read and insert)")


def handover(args, db, own, expect):
    """Deterministic: through a PgBouncer pool of ONE server connection, client
    P sets a tenant for the session and leaves; client V, which names no tenant,
    is handed the same server connection."""
    kw = dict(host="127.0.0.1", port=args.bouncer_port, dbname=db, user=args.app,
              autocommit=True, prepare_threshold=None, connect_timeout=10)
    with psycopg.connect(**kw) as p, psycopg.connect(**kw) as v:
        p.execute(sql.SQL("SET app.current_tenant = {}").format(sql.Literal(own)))
        (p_pid,) = p.execute("SELECT pg_backend_pid()").fetchone()
        p.execute("BEGIN")
        p_read = run(p, READ)
        p.execute("ROLLBACK")
        v.execute("BEGIN")
        v_pid, setting = v.execute(PROBE).fetchone()
        scope = v.execute("SELECT current_setting('pg_tenant.context_scope', true)").fetchone()[0]
        v_read = run(v, READ)
        v_insert = run(v, INSERT, ("handover",))
        v.execute("ROLLBACK")
    where = f"(server pid {p_pid}/{v_pid}, app.current_tenant there {setting!r}, context_scope {scope!r})"
    if v_pid != p_pid or setting != own:
        failed(f"handover through a one-connection pool did not happen {where}")
        return
    if expect == "refused":
        if p_read.refused and v_read.refused and v_insert.refused:
            ok("one server connection: the client that SET its tenant for the session is refused with 25000, "
               "and so is a tenantless client handed that connection (read and insert)")
        else:
            failed(f"one server connection: after another client's SET {where}",
                   [f"the SET client's read: {p_read.describe()}", f"tenantless read: {v_read.describe()}",
                    f"tenantless insert: {v_insert.describe()}"])
    else:  # expect the leak back: pg_tenant.context_scope = 'session'
        seen = v_read.rows or []
        if (scope == "session" and p_read.sqlstate is None and seen
                and all(tid == own for tid, _ in seen) and v_insert.rows == [(own,)]):
            ok(f"control: with pg_tenant.context_scope = 'session' the leak comes back: a tenantless client "
               f"handed the connection saw {sum(c for _, c in seen)} rows of the other client's tenant "
               f"and its insert was filed under it")
        else:
            failed(f"control: with context_scope 'session' expected the leak back {where}",
                   [f"the SET client's read: {p_read.describe()}", f"tenantless read: {v_read.describe()}",
                    f"tenantless insert: {v_insert.describe()}"])


def control_session_scope(args, tenants):
    """Control, run when pg_tenant.context_scope exists (or --control on): with
    the superuser-only setting at 'session' for the application role, the
    same one-connection handover leaks again."""
    with direct() as su:
        su.execute("SELECT current_tenant_id()")  # loads pg_tenant's library
        (exists,) = su.execute(
            "SELECT count(*) > 0 FROM pg_settings WHERE name = 'pg_tenant.context_scope'").fetchone()
        if not exists:
            if args.control == "on":
                failed("control: pg_tenant.context_scope does not exist in the installed build")
            else:
                print("skip: control with pg_tenant.context_scope = 'session' "
                      "(the setting does not exist in the installed build)", flush=True)
            return
        su.execute(sql.SQL("ALTER ROLE {} SET pg_tenant.context_scope = 'session'").format(sql.Identifier(args.app)))
        try:
            # A pool no client used yet: its server connection starts after the ALTER ROLE.
            handover(args, args.db + "_control", tenants[0], expect="leak")
        finally:
            su.execute(sql.SQL("ALTER ROLE {} RESET pg_tenant.context_scope").format(sql.Identifier(args.app)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bouncer-port", type=int, required=True)
    ap.add_argument("--db", required=True, help="PgBouncer's name of the database")
    ap.add_argument("--app", required=True, help="the application's LOGIN role")
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--correct", type=int, default=4)
    ap.add_argument("--session", type=int, default=2)
    ap.add_argument("--tenantless", type=int, default=2)
    ap.add_argument("--txns", type=int, default=500)
    ap.add_argument("--budget", type=float, default=60.0, help="seconds for the concurrent run")
    ap.add_argument("--control", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--scope", choices=("transaction", "session"), default="transaction",
                    help="session: run the concurrent clients with pg_tenant.context_scope = 'session' (no guard)")
    args = ap.parse_args()
    args.deadline = time.monotonic() + args.budget

    with direct() as su:
        tenants = [r[0] for r in su.execute("SELECT id::text FROM tenant.tenants ORDER BY name")]
        role = su.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (args.app,)).fetchone()
        (owner,) = su.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'items'::regclass").fetchone()
    if role != (False, False) or owner == args.app or len(tenants) < 2:
        failed(f"setup: role {args.app} (superuser, bypassrls) = {role}, items owned by {owner}, {len(tenants)} tenants")
        return 1

    handover(args, args.db + "_probe", tenants[0], expect="refused")
    if args.scope == "session":
        # Demonstration without the guard: the main pool has no server
        # connection yet, so all of them start with the role's setting.
        with direct() as su:
            su.execute(sql.SQL("ALTER ROLE {} SET pg_tenant.context_scope = 'session'").format(sql.Identifier(args.app)))
        print("note: concurrent run with pg_tenant.context_scope = 'session' (no guard)", flush=True)
    try:
        concurrent(args, tenants)
    finally:
        if args.scope == "session":
            with direct() as su:
                su.execute(sql.SQL("ALTER ROLE {} RESET pg_tenant.context_scope").format(sql.Identifier(args.app)))
    if args.control != "off":
        control_session_scope(args, tenants)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
