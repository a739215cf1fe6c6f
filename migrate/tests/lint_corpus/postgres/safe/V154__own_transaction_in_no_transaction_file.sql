-- appenv:no-transaction
BEGIN;
INSERT INTO plans (code, name) VALUES ('team', 'Team');
UPDATE plans SET name = 'Teams' WHERE code = 'team';
COMMIT;
