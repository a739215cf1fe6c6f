ALTER TABLE orders DROP INDEX orders_status_idx;
