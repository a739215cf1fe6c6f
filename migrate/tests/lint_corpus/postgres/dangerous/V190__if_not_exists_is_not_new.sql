-- expect: drop-table, truncate
-- IF NOT EXISTS keeps an existing users table: it is not new in this file.
CREATE TABLE IF NOT EXISTS users (id bigint);
TRUNCATE users;
DROP TABLE users;
