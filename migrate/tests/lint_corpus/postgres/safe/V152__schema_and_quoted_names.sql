CREATE SCHEMA IF NOT EXISTS billing;
CREATE TABLE billing."Invoices" (id bigint PRIMARY KEY, total numeric NOT NULL);
CREATE INDEX "Invoices_total_idx" ON billing."Invoices" (total);
ALTER TABLE billing."Invoices" ADD COLUMN issued_at timestamptz NOT NULL;
ALTER TABLE billing."Invoices" ALTER COLUMN total TYPE numeric(14, 2);
