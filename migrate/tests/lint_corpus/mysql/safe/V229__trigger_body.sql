CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW
BEGIN
    SET NEW.updated_at = NOW();
    IF NEW.total < 0 THEN
        SET NEW.total = 0;
    END IF;
END;
