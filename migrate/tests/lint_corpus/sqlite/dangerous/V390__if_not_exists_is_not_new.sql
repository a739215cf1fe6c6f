-- expect: drop-table
-- IF NOT EXISTS keeps an existing notes table: it is not new in this file.
CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY);
DROP TABLE notes;
