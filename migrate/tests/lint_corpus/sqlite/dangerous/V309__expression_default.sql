-- expect: add-column-non-constant-default
ALTER TABLE events ADD COLUMN day TEXT DEFAULT (date('now'));
