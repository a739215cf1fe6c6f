-- appenv:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_created_at ON events (created_at);
