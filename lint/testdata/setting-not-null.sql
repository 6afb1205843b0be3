CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Email" text, "Name" text, "Phone" text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, due_date date, paid_at timestamptz, sent_at timestamptz, total numeric NOT NULL);
ALTER TABLE "Users" ADD CONSTRAINT "Users_Email_not_null" CHECK ("Email" IS NOT NULL) NOT VALID;
ALTER TABLE "Users" VALIDATE CONSTRAINT "Users_Email_not_null";
ALTER TABLE "Users" ADD CONSTRAINT "Users_Name_not_null" CHECK ("Name" IS NOT NULL) NOT VALID;
-- migrate:test-split

-- want: setting-not-null
ALTER TABLE billing.invoices ALTER COLUMN due_date SET NOT NULL;

-- The check exists but is NOT VALID: it proves nothing.
-- want: setting-not-null
ALTER TABLE "Users" ALTER COLUMN "Name" SET NOT NULL;

-- A safe subcommand does not hide the SET NOT NULL.
-- want: setting-not-null
ALTER TABLE billing.invoices ALTER COLUMN total SET DEFAULT 0, ALTER COLUMN paid_at SET NOT NULL;

-- want: setting-not-null
ALTER TABLE orders ALTER COLUMN "customerId" SET NOT NULL;

-- A validated CHECK ("Email" IS NOT NULL) lets PostgreSQL 12+ skip the scan.
-- want: none
ALTER TABLE "Users" ALTER COLUMN "Email" SET NOT NULL;

-- Already NOT NULL: nothing to do.
-- want: none
ALTER TABLE billing.invoices ALTER COLUMN total SET NOT NULL;

-- The recipe, each step in its own transaction, passes.
-- want: none
ALTER TABLE "Users" ADD CONSTRAINT "Users_Phone_not_null" CHECK ("Phone" IS NOT NULL) NOT VALID;

-- want: none
ALTER TABLE "Users" VALIDATE CONSTRAINT "Users_Phone_not_null";

-- want: none
ALTER TABLE "Users" ALTER COLUMN "Phone" SET NOT NULL;

-- want: none
CREATE TABLE sessions (id bigint, token text);

-- want: none
ALTER TABLE sessions ALTER COLUMN token SET NOT NULL;

-- Validated inside the transaction that added it: the scan already ran
-- under the ADD's ACCESS EXCLUSIVE.
BEGIN;
-- want: none
ALTER TABLE billing.invoices ADD CONSTRAINT invoices_sent_at_nn CHECK (sent_at IS NOT NULL) NOT VALID;
-- want: none
ALTER TABLE billing.invoices VALIDATE CONSTRAINT invoices_sent_at_nn;
-- want: setting-not-null
ALTER TABLE billing.invoices ALTER COLUMN sent_at SET NOT NULL;
COMMIT;
