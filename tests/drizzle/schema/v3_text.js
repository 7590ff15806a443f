// A weakening change: tasks.tenant_id becomes text.
module.exports = require("./tables").define({ v2: true, tasksTenantId: "text" });
