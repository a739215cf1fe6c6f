-- appenv:no-transaction
-- expect: require-concurrent-reindex
REINDEX INDEX orders_created_at_idx;
