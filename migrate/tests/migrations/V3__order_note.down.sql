-- Undoes V3 (run by `appenv-migrate down`; refinery ignores .down.sql files).
-- appenv:allow drop-column the column was added by V3 and holds nothing yet
ALTER TABLE orders DROP COLUMN note;
