-- expect: require-concurrent-index-deletion
DROP INDEX IF EXISTS orders_status_idx;
