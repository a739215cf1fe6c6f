-- expect: drop-table
-- IF NOT EXISTS keeps an existing orders table: it is not new in this file.
CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY);
DROP TABLE orders;
