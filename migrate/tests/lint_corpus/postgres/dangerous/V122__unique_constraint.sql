-- expect: disallowed-unique-constraint, constraint-missing-not-valid
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
