// pg_tenant from Node.js with the `pg` driver: name the tenant with a bound
// parameter and with a signed token, read and write as an ordinary role,
// and answer every refusal with an HTTP status chosen by SQLSTATE alone.
//
// Run by examples/run.sh: EXAMPLE_DSN=... EXAMPLE_STRICT_DSN=... EXAMPLE_JWT_SECRET=... node example.js
'use strict';
const assert = require('node:assert/strict');
const { Client } = require('pg');
const jwt = require('jsonwebtoken');

// SQLSTATE -> HTTP status: README "Errors" (also SELECT * FROM tenant_error_codes()).
const HTTP_STATUS = {
  PT001: 401, PT002: 401, PT003: 401, PT004: 401, PT005: 401,
  PT011: 404, PT012: 403, PT013: 410, PT014: 403,
  PT021: 403,
  PT031: 403, PT032: 403, PT033: 403, PT034: 429, PT041: 429,
  '22P02': 400, '25000': 500, '42501': 403,
};
const statusOf = (error) => HTTP_STATUS[error.code] ?? 500;

const OWNER = 'a0000000-0000-4000-8000-00000000000a'; // owner of acme and seatcap
const STRANGER = 'b0000000-0000-4000-8000-00000000000b';
const SECRET = process.env.EXAMPLE_JWT_SECRET;
const token = (tenant, user, expiresIn = 300) =>
  jwt.sign({ tenant_id: tenant, sub: user }, SECRET, { algorithm: 'HS256', keyid: 'example-hs', expiresIn });

async function inTransaction(client, work) {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

async function runCases(client, role, cases) {
  let failures = 0;
  for (const [label, expected, steps] of cases) {
    try {
      await inTransaction(client, async () => {
        for (const [sql, params] of steps) await client.query(sql, params);
      });
      console.log(`FAILED: node ${role}: ${label}: no error (expected HTTP ${expected})`);
      failures += 1;
    } catch (error) {
      if (!error.code) throw error;
      const status = statusOf(error);
      console.log(`${status === expected ? 'ok' : 'FAILED'}: node ${role}: ${label}: ${error.code} -> HTTP ${status} (expected ${expected})`);
      failures += status === expected ? 0 : 1;
    }
  }
  return failures;
}

async function main() {
  let failures = 0;
  const app = new Client({ connectionString: process.env.EXAMPLE_DSN });
  await app.connect();
  const codes = await app.query('SELECT sqlstate, http_status FROM tenant_error_codes()');
  assert.deepEqual(Object.fromEntries(codes.rows.map((r) => [r.sqlstate, r.http_status])), HTTP_STATUS);

  const [acme, globex] = await inTransaction(app, async () => [
    (await app.query('SELECT tenant_set($1::text) AS id', ['acme'])).rows[0].id,
    (await app.query('SELECT tenant_set($1::text) AS id', ['globex'])).rows[0].id,
  ]);
  // 1. A bound parameter names the tenant; the row lands in it.
  await inTransaction(app, async () => {
    await app.query("SELECT set_config('app.current_tenant', $1, true)", [acme]);
    const { rows } = await app.query('INSERT INTO notes (body) VALUES ($1) RETURNING tenant_id', ['from node']);
    assert.equal(rows[0].tenant_id, acme);
  });
  // 2. tenant_set with a uuid parameter (pg sends every parameter as text,
  //    so the cast picks tenant_set(uuid)); only this tenant's rows are seen.
  await inTransaction(app, async () => {
    await app.query('SELECT tenant_set($1::uuid)', [globex]);
    await app.query("INSERT INTO notes (body) VALUES ('globex, from node')");
    const { rows } = await app.query('SELECT tenant_id, body FROM notes ORDER BY id');
    assert.ok(rows.every((r) => r.tenant_id === globex), 'a row of another tenant was seen');
    assert.ok(rows.some((r) => r.body === 'globex, from node'));
  });
  // 3. A signed token names tenant and user.
  await inTransaction(app, async () => {
    const named = (await app.query('SELECT tenant_set_token($1) AS id', [token(acme, OWNER)])).rows[0].id;
    const user = (await app.query('SELECT current_tenant_user_id() AS id')).rows[0].id;
    const bodies = (await app.query('SELECT body FROM notes ORDER BY id')).rows.map((r) => r.body);
    assert.equal(named, acme);
    assert.equal(user, OWNER);
    assert.ok(bodies.includes('from node') && !bodies.includes('globex, from node'));
  });
  // 4. Every refusal, answered by SQLSTATE alone.
  failures += await runCases(app, 'example_app', [
    ['no tenant in context', 401, [["INSERT INTO notes (body) VALUES ('x')", []]]],
    ['malformed tenant', 400, [["SELECT set_config('app.current_tenant', 'acme', true)", []], ['SELECT count(*) FROM notes', []]]],
    ['unknown tenant', 404, [['SELECT tenant_set($1::text)', ['nobody']]]],
    ['suspended tenant', 403, [['SELECT tenant_set($1::text)', ['paused']]]],
    ['deleted tenant', 410, [['SELECT tenant_set($1::text)', ['gone']]]],
    ['tenant set for the session', 500, [["SELECT set_config('app.current_tenant', $1, false)", [acme]], ['SELECT count(*) FROM notes', []]]],
    ['invalid token', 401, [['SELECT tenant_set_token($1)', ['not a token']]]],
    ['expired token', 401, [['SELECT tenant_set_token($1)', [token(acme, OWNER, -3600)]]]],
    ['row for another tenant', 403, [['SELECT tenant_set($1::uuid)', [acme]], ["INSERT INTO notes (tenant_id, body) VALUES ($1, 'x')", [globex]]]],
    ['permission denied', 403, [["SELECT tenant_suspend('acme')", []]]],
    ['row quota', 403, [['SELECT tenant_set($1::text)', ['rowcap']], ["INSERT INTO notes (body) VALUES ('x')", []]]],
    ['storage quota', 403, [['SELECT tenant_set($1::text)', ['bytecap']], ["INSERT INTO notes (body) VALUES ('x')", []]]],
    ['member quota', 403, [['SELECT tenant_set($1::text)', ['seatcap']],
      ["SELECT set_config('app.current_user_id', $1, true)", [OWNER]],
      ["SELECT tenant_member_add('seatcap', $1::uuid)", [STRANGER]]]],
    ['API request quota', 429, [['SELECT tenant_set($1::text)', ['apicap']], ['SELECT tenant_record_api_request()', []]]],
  ]);
  await app.end();

  const strict = new Client({ connectionString: process.env.EXAMPLE_STRICT_DSN });
  await strict.connect();
  await inTransaction(strict, async () => {
    await strict.query('SELECT tenant_set_token($1)', [token(acme, OWNER)]);
    assert.ok(Number((await strict.query('SELECT count(*) AS n FROM notes')).rows[0].n) >= 1);
  });
  failures += await runCases(strict, 'example_strict', [
    ['tenant not named by a token', 401, [["SELECT set_config('app.current_tenant', $1, true)", [acme]], ['SELECT count(*) FROM notes', []]]],
    ['token user not a member', 403, [['SELECT tenant_set_token($1)', [token(acme, STRANGER)]]]],
    ['claims and setting disagree', 401, [["SELECT set_config('request.jwt.claims', $1, true)", [JSON.stringify({ tenant_id: acme })]],
      ["SELECT set_config('app.current_tenant', $1, true)", [globex]], ['SELECT count(*) FROM notes', []]]],
  ]);
  await strict.end();
  console.log(`node: ${failures === 0 ? 'ok' : `${failures} failures`}`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
