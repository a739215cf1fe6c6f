-- appenv:no-transaction
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE users_new (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
INSERT INTO users_new (id, email) SELECT id, email FROM users;
-- appenv:allow drop-table rebuilt as users_new above with every row copied
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
COMMIT;
PRAGMA foreign_key_check;
PRAGMA foreign_keys = ON;
