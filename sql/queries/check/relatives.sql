-- The relatives of tenant-scoped tables through pg_inherits, at any depth,
-- that are not tenant-scoped themselves: relatives (relid, origin, below).
-- A list of WITH RECURSIVE items; the check queries that need it follow it.
WITH RECURSIVE descendants (relid, origin) AS (
                 SELECT i.inhrelid, i.inhparent FROM pg_inherits i WHERE i.inhparent IN (SELECT relid FROM tenant.tables)
                 UNION
                 SELECT i.inhrelid, d.origin FROM descendants d JOIN pg_inherits i ON i.inhparent = d.relid
             ),
             ancestors (relid, origin) AS (
                 SELECT i.inhparent, i.inhrelid FROM pg_inherits i WHERE i.inhrelid IN (SELECT relid FROM tenant.tables)
                 UNION
                 SELECT i.inhparent, a.origin FROM ancestors a JOIN pg_inherits i ON i.inhrelid = a.relid
             ),
             relatives (relid, origin, below) AS (
                 SELECT relid, origin, true FROM descendants WHERE relid NOT IN (SELECT relid FROM tenant.tables)
                 UNION
                 SELECT relid, origin, false FROM ancestors WHERE relid NOT IN (SELECT relid FROM tenant.tables)
             )
