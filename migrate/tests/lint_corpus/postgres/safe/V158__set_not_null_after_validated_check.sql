-- users_email_not_null (CHECK (email IS NOT NULL) NOT VALID) came with the
-- previous migration: once it is valid, SET NOT NULL skips the table scan.
ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
