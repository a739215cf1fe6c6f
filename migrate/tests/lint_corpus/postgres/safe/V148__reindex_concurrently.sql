-- appenv:no-transaction
REINDEX INDEX CONCURRENTLY orders_created_at_idx;
