-- expect: concurrent-index-in-transaction
DROP INDEX CONCURRENTLY IF EXISTS events_old_idx;
