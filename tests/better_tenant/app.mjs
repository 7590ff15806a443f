// A Better Tenant 0.5.4 + Drizzle app against pg_tenant (tests/better_tenant/run.sh).
// Better Tenant's own code, unchanged, reads and writes pg_tenant's registry
// through public.tenants (a view over tenant.directory) and works on
// tenant-scoped tables. Two pools, as docs/better-tenant.md says:
//   REQUEST_URL  role bt_app: ordinary, granted tenant_directory (slug lookups
//                in system scope); runAs, resolveTenant, handleRequest, loadTenant;
//   SYSTEM_URL   login role bt_system (NOINHERIT), its sessions acting as
//                bt_system_bypass (granted tenant_bypass and tenant_admin);
//                runAsSystem and tenant.api.
//   ADMIN_URL    the superuser, to look at what happened.
// One `ok: ` or `FAILED: ` line per check; exits 1 when a check failed.
import pg from "pg";
import { drizzle } from "drizzle-orm/node-postgres";
import { sql } from "drizzle-orm";
import { betterTenant } from "@usebetterdev/tenant";
import { drizzleDatabase } from "@usebetterdev/tenant/drizzle";
import { projects } from "./schema/app.js";

process.env.BETTER_TENANT_TELEMETRY = "0";
let failed = 0;
const ok = (what) => console.log(`ok: ${what}`);
const fail = (what, detail) => {
  console.log(`FAILED: ${what}`);
  if (detail !== undefined) console.log(`      ${detail}`);
  failed = 1;
};
const expect = (what, want, got) => {
  const [w, g] = [JSON.stringify(want), JSON.stringify(got)];
  if (w === g) ok(what);
  else fail(what, `expected ${w}, got ${g}`);
};
// The error a call raises (its SQLSTATE and message), or "no error".
const raised = async (f) => {
  try {
    await f();
    return "no error";
  } catch (e) {
    const cause = e.cause ?? e;
    return `${cause.code ?? "?"} ${cause.message ?? e.message}`;
  }
};
const codeOf = (text) => text.split(" ")[0];

const instance = (url, resolver, options = {}) => {
  const pool = new pg.Pool({ connectionString: url, max: 4, ...options });
  const db = drizzle({ client: pool });
  return {
    pool,
    tenant: betterTenant({
      database: drizzleDatabase(db),
      tenantResolver: resolver,
      telemetry: { enabled: false },
    }),
  };
};
const request = instance(process.env.REQUEST_URL, { header: "x-tenant-id", subdomain: true });
// The system pool's sessions act as bt_system_bypass: the login role alone
// (NOINHERIT) gets no bypass from one set_config.
const system = instance(process.env.SYSTEM_URL, { header: "x-tenant-id" }, {
  options: "-c role=bt_system_bypass",
});
const admin = new pg.Pool({ connectionString: process.env.ADMIN_URL, max: 1 });
const registry = async (slug) =>
  (await admin.query("SELECT id::text, name, status FROM tenant.tenants WHERE slug = $1", [slug])).rows[0];

try {
  // tenant.api from the system pool: every write lands in pg_tenant's registry.
  const acme = await system.tenant.api.createTenant({ name: "Acme", slug: "acme" });
  const globex = await system.tenant.api.createTenant({ name: "Globex", slug: "globex" });
  const initech = await system.tenant.api.createTenant({ name: "Initech", slug: "initech" });
  expect("api.createTenant returns the registry's tenant (id, name, slug, createdAt)",
    { id: (await registry("acme"))?.id, name: "Acme", slug: "acme", createdAt: true },
    { id: acme.id, name: acme.name, slug: acme.slug, createdAt: acme.createdAt instanceof Date });
  expect("api.listTenants lists the registry's tenants",
    ["acme", "globex", "initech"], (await system.tenant.api.listTenants()).map((t) => t.slug).sort());
  expect("api.countTenants", 3, await system.tenant.api.countTenants());
  expect("api.getTenant by id", "Globex", (await system.tenant.api.getTenant(globex.id))?.name);
  const renamed = await system.tenant.api.updateTenant(initech.id, { name: "Initech Corp", slug: "initech-corp" });
  expect("api.updateTenant renames in the registry (name and slug)",
    { name: "Initech Corp", slug: "initech-corp", status: "active" },
    { name: renamed.name, slug: renamed.slug, status: (await registry("initech-corp"))?.status });
  expect("api.updateTenant of an unknown id throws Better Tenant's 'tenant not found'", true,
    (await raised(() => system.tenant.api.updateTenant("00000000-0000-4000-8000-00000000dead", { name: "x" }))).includes("not found"));
  expect("api.createTenant with a slug pg_tenant refuses: 22023, nothing created", ["22023", 3],
    [codeOf(await raised(() => system.tenant.api.createTenant({ name: "Bad", slug: "Not A Slug" }))),
      await system.tenant.api.countTenants()]);

  // The request pool may not write the registry.
  expect("api.createTenant from the request role (not an operator): 42501", "42501",
    codeOf(await raised(() => request.tenant.api.createTenant({ name: "Evil", slug: "evil" }))));

  // runAs: inserts get tenant_id, other tenants' rows are invisible, and a
  // row naming another tenant is refused.
  await request.tenant.runAs(acme.id, (db) => db.insert(projects).values({ name: "acme roadmap" }));
  await request.tenant.runAs(globex.id, (db) => db.insert(projects).values({ name: "globex roadmap" }));
  const seen = await request.tenant.runAs(acme.id, async (db) =>
    (await db.select().from(projects)).map((p) => [p.name, p.tenantId]));
  expect("runAs: acme sees its own project only, with tenant_id filled", [["acme roadmap", acme.id]], seen);
  expect("runAs: a row naming another tenant is refused (PT021)", "PT021",
    codeOf(await raised(() => request.tenant.runAs(acme.id, (db) =>
      db.insert(projects).values({ name: "smuggled", tenantId: globex.id })))));
  expect("runAs loads the tenant from the directory (loadTenant): getContext().tenant",
    { slug: "acme", name: "Acme" },
    await request.tenant.runAs(acme.id, async () => {
      const t = request.tenant.getContext()?.tenant;
      return { slug: t?.slug, name: t?.name };
    }));

  // Slug resolution by the request role: header and subdomain.
  expect("resolveTenant: header with a slug", acme.id,
    await request.tenant.resolveTenant({ headers: { "x-tenant-id": "acme" } }));
  expect("resolveTenant: header with an id", globex.id,
    await request.tenant.resolveTenant({ headers: { "x-tenant-id": globex.id } }));
  expect("resolveTenant: subdomain", globex.id,
    await request.tenant.resolveTenant({ headers: {}, host: "globex.app.example.com" }));
  expect("resolveTenant: unknown slug resolves to nothing", undefined,
    await request.tenant.resolveTenant({ headers: { "x-tenant-id": "no-such-tenant" } }));
  for (const [what, req] of [
    ["header", { headers: { "x-tenant-id": "globex" } }],
    ["subdomain", { headers: {}, host: "globex.app.example.com" }],
  ]) {
    const names = await request.tenant.handleRequest(req, async () =>
      (await request.tenant.getDatabase().select().from(projects)).map((p) => p.name));
    expect(`handleRequest (${what} resolver): the handler sees globex's rows only`, ["globex roadmap"], names);
  }

  // runAsSystem: the request role's app.bypass_rls opens nothing; the system
  // role (tenant_bypass) reads every tenant.
  expect("runAsSystem from the request role: no tenant's rows", 0,
    await request.tenant.runAsSystem(async (db) => (await db.select().from(projects)).length));
  expect("runAsSystem from the system role (tenant_bypass): every tenant's rows", 2,
    await system.tenant.runAsSystem(async (db) => (await db.select().from(projects)).length));
  expect("runAsSystem is recorded in tenant.bypass_log with the system role's standing reason",
    "bt_system_bypass Better Tenant runAsSystem (system pool) public.projects",
    (await admin.query(`SELECT db_role || ' ' || reason || ' ' || array_to_string(tables, ',') AS r
                          FROM tenant.bypass_log WHERE 'public.projects' = ANY (tables)
                         ORDER BY logged_at DESC LIMIT 1`)).rows[0]?.r);
  const loginOnly = instance(process.env.SYSTEM_URL, { header: "x-tenant-id" });
  try {
    expect("runAsSystem as the system login role without its role (one set_config): refused (42501), it holds nothing itself", "42501",
      codeOf(await raised(() => loginOnly.tenant.runAsSystem((db) => db.select().from(projects)))));
  } finally {
    await loginOnly.pool.end();
  }
  expect("the request role lists only the directory in system scope, no registry row",
    { directory: 3, registry: "0" },
    await request.tenant.runAsSystem(async (db) => ({
      directory: (await request.tenant.api.countTenants()),
      registry: String((await db.execute(sql`SELECT count(*) AS n FROM tenant.tenants`)).rows[0].n),
    })));

  // A tenantless write gets pg_tenant's error, not 22P02.
  const client = await request.pool.connect();
  try {
    expect("an insert with no tenant in context: PT001", "PT001",
      codeOf(await raised(() => client.query("INSERT INTO projects (name) VALUES ('orphan')"))));
  } finally {
    client.release();
  }

  // deleteTenant: a soft delete; the tenant is refused afterwards.
  await system.tenant.api.deleteTenant(globex.id);
  expect("api.deleteTenant: the registry keeps the tenant as deleted, the directory drops it",
    { status: "deleted", count: 2 }, { status: (await registry("globex"))?.status, count: await system.tenant.api.countTenants() });
  expect("runAs a deleted tenant: refused (PT013)", "PT013",
    codeOf(await raised(() => request.tenant.runAs(globex.id, (db) => db.select().from(projects)))));
  const check = await admin.query("SELECT count(*)::int AS n, string_agg(\"check\" || ' ' || object, ', ') AS what FROM tenant_check() WHERE status = 'fail'");
  expect("tenant_check(): no failure", [0, null], [check.rows[0].n, check.rows[0].what]);
} catch (e) {
  fail("the app ran to the end", e.stack ?? String(e));
} finally {
  await Promise.all([request.pool.end(), system.pool.end(), admin.end()]);
}
process.exit(failed);
