-- expect: update-without-where
ALTER TABLE users ADD COLUMN normalized_email text;
UPDATE users SET normalized_email = lower(email);
