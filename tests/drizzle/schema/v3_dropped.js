// A weakening change: tasks loses its tenant_id column.
module.exports = require("./tables").define({ v2: true, tasksTenantId: "dropped" });
