-- expect: drop-table
-- "Billing"."Invoices" is not the billing.invoices created here.
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, total numeric NOT NULL);
DROP TABLE "Billing"."Invoices";
