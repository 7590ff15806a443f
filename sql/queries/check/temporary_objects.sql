-- temporary_objects (src/check/hygiene.rs): whether PUBLIC may create
-- temporary objects in this database (Postgres grants it by default); the
-- database's name, quoted.
SELECT pg_catalog.quote_ident(pg_catalog.current_database()::text),
       pg_catalog.has_database_privilege('public', pg_catalog.current_database(), 'TEMPORARY')::text
