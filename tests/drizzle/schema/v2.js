// An ordinary later change: a new column (projects.description) and an index.
module.exports = require("./tables").define({ v2: true });
