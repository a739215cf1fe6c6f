CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped');
