CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    total numeric(12, 2) NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'new',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_id_idx ON orders (user_id);
CREATE UNIQUE INDEX orders_status_created_idx ON orders (status, created_at);
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0);
