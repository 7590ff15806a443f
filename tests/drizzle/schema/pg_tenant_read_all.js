// Version 2 declared, plus a permissive policy that opens projects to every
// tenant: the guard lets a new permissive policy through with a WARNING.
module.exports = require("./tables").define({ v2: true, pgTenant: true, readAll: true });
