-- expect: change-column-type
ALTER TABLE orders MODIFY total DECIMAL(14, 2) NOT NULL;
