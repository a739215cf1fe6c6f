-- Added NOT VALID by the previous migration.
ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;
