-- expect: drop-column
ALTER TABLE users DROP COLUMN legacy_email;
