-- expect: rename-table
RENAME TABLE orders TO purchases;
