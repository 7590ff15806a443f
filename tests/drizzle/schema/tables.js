// The application's tables, in every version tests/drizzle/run.sh needs; each
// schema/*.js file picks one. The plain versions are what an ORM user writes:
// two tables with a `tenant_id uuid` column and nothing pg_tenant-specific.
//
// tasks point at projects through (tenant_id, project_id), so a task can only
// name a project of its own tenant (tenant_check's foreign_key_without_tenant
// fails on a plain project_id foreign key). tenant_id is the first column of
// projects on purpose: drizzle-kit 0.31 push reads a composite primary key's
// columns in the table's column order, and when that differs from the
// declared order it drops and re-adds the key on every push (and fails while
// a foreign key depends on it) -- a drizzle-kit quirk, pg_tenant or not.
const { sql } = require("drizzle-orm");
const {
  pgTable, pgSchema, pgPolicy, pgRole, uuid, text, boolean, timestamp,
  primaryKey, foreignKey, index,
} = require("drizzle-orm/pg-core");

// What pg_tenant's tenant_enable creates, declared for drizzle-kit (scenario
// 4, opts.pgTenant) so that push finds nothing to take away: the foreign key
// of tenant_id to tenant.tenants (named as tenant_enable names it), the index
// tenant_enable adds where no index leads with tenant_id (tasks; projects'
// primary key does), and the two policies. push compares policies by name,
// AS, FOR and TO only; the expressions are written as pg_policies shows them
// so that drizzle's snapshots agree with the database. RLS itself is implied
// by the policies; FORCE ROW LEVEL SECURITY and the triggers are beyond
// drizzle-kit, which neither reads nor changes them. These objects are made
// by tenant_enable, not by drizzle's SQL (see run.sh, scenario 4).
const tenants = pgSchema("tenant").table("tenants", { id: uuid("id").primaryKey() });
const tenantBypass = pgRole("tenant_bypass").existing();
const pgTenantExtras = (t, table, withIndex) => [
  ...(withIndex ? [index(`${table}_tenant_id_idx`).on(t.tenantId)] : []),
  foreignKey({ name: `${table}_tenant_id_fkey`, columns: [t.tenantId], foreignColumns: [tenants.id] }),
  pgPolicy("tenant_isolation", {
    as: "permissive", for: "all", to: "public",
    using: sql`(tenant_id = ( SELECT current_tenant_id() AS current_tenant_id))`,
    withCheck: sql`(tenant_id = ( SELECT current_tenant_id() AS current_tenant_id))`,
  }),
  pgPolicy("tenant_bypass", {
    as: "permissive", for: "all", to: tenantBypass,
    using: sql`( SELECT tenant_bypass_requested() AS tenant_bypass_requested)`,
    withCheck: sql`( SELECT tenant_bypass_requested() AS tenant_bypass_requested)`,
  }),
];

// opts: v2 (projects.description and an index on tasks), tasksTenantId
// ("nullable", "dropped", "text": the weakening versions), pgTenant (above),
// readAll (a permissive policy projects_read_all USING (true) beside them).
function define(opts = {}) {
  const projects = pgTable("projects", {
    tenantId: uuid("tenant_id").notNull(),
    id: uuid("id").notNull().defaultRandom(),
    name: text("name").notNull(),
    ...(opts.v2 ? { description: text("description") } : {}),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  }, (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    ...(opts.pgTenant ? pgTenantExtras(t, "projects", false) : []),
    ...(opts.readAll ? [pgPolicy("projects_read_all", { as: "permissive", for: "select", to: "public", using: sql`true` })] : []),
  ]);

  const tenantId = {
    undefined: () => uuid("tenant_id").notNull(),
    nullable: () => uuid("tenant_id"),
    text: () => text("tenant_id").notNull(),
    dropped: () => undefined,
  }[opts.tasksTenantId]();
  const tasks = pgTable("tasks", {
    id: uuid("id").primaryKey().defaultRandom(),
    ...(tenantId ? { tenantId } : {}),
    projectId: uuid("project_id").notNull(),
    title: text("title").notNull(),
    done: boolean("done").notNull().default(false),
  }, (t) => [
    ...(tenantId ? [foreignKey({ columns: [t.tenantId, t.projectId], foreignColumns: [projects.tenantId, projects.id] })] : []),
    ...(opts.v2 ? [index("tasks_open_idx").on(t.projectId, t.done)] : []),
    ...(opts.pgTenant ? pgTenantExtras(t, "tasks", true) : []),
  ]);

  return opts.pgTenant ? { projects, tasks, tenantBypass } : { projects, tasks };
}

module.exports = { define };
