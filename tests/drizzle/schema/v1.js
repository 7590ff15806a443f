// The first version: projects and tasks, nothing pg_tenant-specific.
module.exports = require("./tables").define();
