-- expect: drop-table
-- The sessions table moved to Redis two releases ago.
DROP TABLE legacy_sessions;
