-- expect: lock-table
LOCK TABLES accounts WRITE;
UPDATE accounts SET plan = 'free' WHERE plan IS NULL;
UNLOCK TABLES;
