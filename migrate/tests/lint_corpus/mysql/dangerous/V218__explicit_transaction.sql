-- expect: explicit-transaction
START TRANSACTION;
INSERT INTO plans (code, name) VALUES ('pro', 'Pro');
COMMIT;
