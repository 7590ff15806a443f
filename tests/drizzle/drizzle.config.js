// drizzle-kit's configuration for tests/drizzle/run.sh. Everything that
// changes between the scenarios comes from the environment:
//   DRIZZLE_SCHEMA  the schema file (schema/*.js)
//   DRIZZLE_OUT     the migrations folder generate writes and migrate reads
//   DATABASE_URL    the connection (always the non-superuser migrator role)
const { defineConfig } = require("drizzle-kit");

module.exports = defineConfig({
  dialect: "postgresql",
  schema: process.env.DRIZZLE_SCHEMA,
  out: process.env.DRIZZLE_OUT,
  dbCredentials: { url: process.env.DATABASE_URL },
  // Only the application's schema: pg_tenant's registry (schema tenant) is
  // the extension's, and drizzle's own bookkeeping lives in schema drizzle.
  schemaFilter: ["public"],
  strict: false,
  verbose: true,
});
