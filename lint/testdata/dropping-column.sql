CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Email" text, "Legacy" text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, old_total numeric, note text);
-- migrate:test-split

-- want: dropping-column
ALTER TABLE "Users" DROP COLUMN "Legacy";

-- CASCADE also drops the views that use the column.
-- want: dropping-column
ALTER TABLE billing.invoices DROP COLUMN old_total CASCADE;

-- want: dropping-column
ALTER TABLE billing.invoices ADD COLUMN memo text, DROP COLUMN IF EXISTS note;

-- want: dropping-column
ALTER TABLE orders DROP COLUMN legacy_ref;

-- want: none
ALTER TABLE "Users" ADD COLUMN "Nick" text;

-- want: none
CREATE TABLE drafts (id bigint, body text);

-- want: none
ALTER TABLE drafts DROP COLUMN body;
