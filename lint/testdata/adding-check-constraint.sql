CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Age" int);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, amount numeric(10,2), status text);
-- migrate:test-split

-- want: adding-check-constraint
ALTER TABLE "Users" ADD CONSTRAINT "Users_Age_check" CHECK ("Age" >= 0);

-- Unnamed: the fix names it so that VALIDATE can refer to it.
-- want: adding-check-constraint
ALTER TABLE billing.invoices ADD CHECK (amount > 0);

-- The NOT VALID one does not hide the other.
-- want: adding-check-constraint
ALTER TABLE billing.invoices ADD CONSTRAINT status_ok CHECK (status IN ('draft', 'sent')) NOT VALID, ADD CONSTRAINT amount_cap CHECK (amount < 1000000);

-- want: adding-check-constraint
ALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (qty > 0);

-- want: none
ALTER TABLE "Users" ADD CONSTRAINT "Users_Age_max" CHECK ("Age" < 200) NOT VALID;

-- want: none
ALTER TABLE "Users" VALIDATE CONSTRAINT "Users_Age_max";

-- want: none
CREATE TABLE sessions (id bigint, ttl int);

-- want: none
ALTER TABLE sessions ADD CONSTRAINT ttl_positive CHECK (ttl > 0);
