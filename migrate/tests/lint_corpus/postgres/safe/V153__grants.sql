GRANT SELECT ON orders TO reporting;
GRANT USAGE ON SCHEMA billing TO reporting;
