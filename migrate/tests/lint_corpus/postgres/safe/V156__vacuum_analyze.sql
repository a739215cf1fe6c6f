-- appenv:no-transaction
VACUUM ANALYZE orders;
