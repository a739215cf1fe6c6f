-- expect: ban-drop-constraint
ALTER TABLE orders DROP CONSTRAINT orders_total_positive;
