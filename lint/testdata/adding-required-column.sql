CREATE TABLE "Users" ("Id" bigint PRIMARY KEY);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY);
-- migrate:test-split

-- want: adding-required-column
ALTER TABLE "Users" ADD COLUMN "Email" text NOT NULL;

-- want: adding-required-column
ALTER TABLE billing.invoices ADD COLUMN note text, ADD COLUMN currency char(3) NOT NULL;

-- want: adding-required-column
ALTER TABLE orders ADD COLUMN region text NOT NULL;

-- want: none
ALTER TABLE "Users" ADD COLUMN "Active" boolean NOT NULL DEFAULT true;

-- Serial and identity columns fill themselves (they rewrite, which is
-- another rule's finding).
-- want: none
ALTER TABLE billing.invoices ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;

-- want: none
ALTER TABLE orders ADD COLUMN note text;

-- want: none
CREATE TABLE sessions (id bigint);

-- want: none
ALTER TABLE sessions ADD COLUMN token text NOT NULL;
