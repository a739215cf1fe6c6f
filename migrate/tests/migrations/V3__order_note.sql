-- orders is new in V2: nothing reads it yet
ALTER TABLE orders ADD COLUMN note VARCHAR(100);
