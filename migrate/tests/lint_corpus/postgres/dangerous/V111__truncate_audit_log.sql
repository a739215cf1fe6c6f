-- expect: truncate
TRUNCATE audit_log RESTART IDENTITY;
