CREATE TABLE invoices (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id BIGINT NOT NULL
) ENGINE=InnoDB;
ALTER TABLE invoices ADD CONSTRAINT invoices_order_fk FOREIGN KEY (order_id) REFERENCES orders (id);
CREATE FULLTEXT INDEX invoices_ft ON invoices (order_id);
ALTER TABLE invoices ENGINE=InnoDB;
