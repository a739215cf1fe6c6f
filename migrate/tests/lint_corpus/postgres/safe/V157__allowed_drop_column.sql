-- appenv:allow drop-column `legacy_email` unread since release 41
ALTER TABLE users DROP COLUMN legacy_email;
