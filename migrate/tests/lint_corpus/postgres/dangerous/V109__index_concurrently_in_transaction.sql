-- expect: concurrent-index-in-transaction
-- Forgot the no-transaction line: appenv runs this in a transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_kind_idx ON events (kind);
