// Version 2 with pg_tenant's foreign key and policies declared.
module.exports = require("./tables").define({ v2: true, pgTenant: true });
