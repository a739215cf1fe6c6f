ALTER TABLE orders ADD INDEX orders_created_at_idx (created_at), ALGORITHM=INPLACE, LOCK=NONE;
