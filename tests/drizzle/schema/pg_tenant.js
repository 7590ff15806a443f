// Version 1 with pg_tenant's foreign key and policies declared, so that
// drizzle-kit push finds nothing to take away.
module.exports = require("./tables").define({ pgTenant: true });
