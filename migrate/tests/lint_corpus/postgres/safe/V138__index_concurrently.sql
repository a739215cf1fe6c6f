-- appenv:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS orders_created_at_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_created_at_idx ON orders (created_at);
