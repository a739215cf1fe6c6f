-- expect: add-column-non-constant-default
ALTER TABLE events ADD COLUMN received_at TEXT DEFAULT CURRENT_TIMESTAMP;
