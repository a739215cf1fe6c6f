-- appenv:no-transaction
PRAGMA journal_mode = WAL;
PRAGMA optimize;
REINDEX events_kind_idx;
