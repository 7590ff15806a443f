// drizzle-kit configuration for tests/better_tenant/run.sh.
export default {
  dialect: "postgresql",
  schema: "./schema/app.js",
  out: process.env.DRIZZLE_OUT,
  dbCredentials: { url: process.env.DATABASE_URL },
};
