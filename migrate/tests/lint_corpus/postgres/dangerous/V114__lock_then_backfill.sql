-- expect: lock-table
LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE;
UPDATE accounts SET plan = 'free' WHERE plan IS NULL;
