-- expect: truncate
TRUNCATE TABLE sessions;
