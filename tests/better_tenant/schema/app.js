// The application's Drizzle schema, as a Better Tenant app declares its data
// tables. Two changes from Better Tenant's docs, both because its `tenants`
// is now a view over pg_tenant's registry (tenant.directory):
// - `tenantsTable` is not in drizzle-kit's schema (drizzle-kit would create a
//   table "tenants"); pg_tenant provides it (migration 0001);
// - `tenant_id` is declared without the `tenantId` helper's REFERENCES
//   "tenants" (a foreign key cannot reference a view) and without its casting
//   default: tenant_enable adds the foreign key to tenant.tenants and fills
//   tenant_id with its trigger.
import { pgTable, uuid, text } from "drizzle-orm/pg-core";

export const projects = pgTable("projects", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  name: text("name").notNull(),
});
