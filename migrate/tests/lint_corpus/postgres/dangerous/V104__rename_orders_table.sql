-- expect: rename-table
ALTER TABLE orders RENAME TO purchases;
