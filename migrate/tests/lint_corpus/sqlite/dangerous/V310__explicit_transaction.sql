-- expect: explicit-transaction
BEGIN TRANSACTION;
INSERT INTO plans (code) VALUES ('pro');
COMMIT;
