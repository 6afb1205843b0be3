CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Age" int);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, user_id bigint, amount numeric);
ALTER TABLE billing.invoices ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID;
ALTER TABLE "Users" ADD CONSTRAINT "Users_Age_check" CHECK ("Age" >= 0) NOT VALID;
-- migrate:test-split

-- Added NOT VALID and validated in one transaction: the scan runs under the
-- ADD's lock.
BEGIN;
-- want: none
ALTER TABLE billing.invoices ADD CONSTRAINT invoices_user_fk FOREIGN KEY (user_id) REFERENCES "Users" ("Id") NOT VALID;
-- want: validate-in-same-transaction
ALTER TABLE billing.invoices VALIDATE CONSTRAINT invoices_user_fk;
COMMIT;

-- One statement: the ADD's ACCESS EXCLUSIVE covers the VALIDATE.
-- want: validate-in-same-transaction
ALTER TABLE "Users" ADD COLUMN "Nick" text, VALIDATE CONSTRAINT "Users_Age_check";

-- Earlier DDL in the transaction holds a strong lock.
BEGIN;
-- want: none
ALTER TABLE billing.invoices ADD COLUMN note text;
-- want: validate-in-same-transaction
ALTER TABLE billing.invoices VALIDATE CONSTRAINT amount_positive;
COMMIT;

-- On its own: SHARE UPDATE EXCLUSIVE, reads and writes continue.
-- want: none
ALTER TABLE "Users" VALIDATE CONSTRAINT "Users_Age_check";

BEGIN;
-- want: none
SELECT 1;
-- Only weak locks before it in this transaction.
-- want: none
ALTER TABLE orders VALIDATE CONSTRAINT orders_total_check;
COMMIT;

-- want: none
CREATE TABLE sessions (id bigint, ttl int);

BEGIN;
-- want: none
ALTER TABLE sessions ADD CONSTRAINT ttl_positive CHECK (ttl > 0) NOT VALID;
-- want: none
ALTER TABLE sessions VALIDATE CONSTRAINT ttl_positive;
COMMIT;
