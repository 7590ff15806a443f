// A weakening change: tasks.tenant_id loses NOT NULL.
module.exports = require("./tables").define({ v2: true, tasksTenantId: "nullable" });
