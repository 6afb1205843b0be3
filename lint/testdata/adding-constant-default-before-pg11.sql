-- options: pg-version=10
CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Email" text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, amount numeric(10,2));
-- migrate:test-split

-- want: adding-constant-default-before-pg11
ALTER TABLE "Users" ADD COLUMN "Active" boolean NOT NULL DEFAULT true;

-- want: adding-constant-default-before-pg11
ALTER TABLE billing.invoices ADD COLUMN status text DEFAULT 'draft';

-- now() is not volatile, but before 11 every default is written into each row.
-- want: adding-constant-default-before-pg11
ALTER TABLE billing.invoices ADD COLUMN note text, ADD COLUMN created_at timestamptz DEFAULT now();

-- want: adding-constant-default-before-pg11
ALTER TABLE orders ADD COLUMN priority int DEFAULT 0;

-- Volatile defaults are adding-volatile-default's finding, not this rule's.
-- want: none
ALTER TABLE orders ADD COLUMN token uuid DEFAULT uuid_generate_v4();

-- DEFAULT NULL stores no default at all.
-- want: none
ALTER TABLE "Users" ADD COLUMN "Nickname" text DEFAULT NULL;

-- want: none
ALTER TABLE billing.invoices ADD COLUMN paid_at timestamptz;

-- Setting a default on an existing column never rewrites.
-- want: none
ALTER TABLE billing.invoices ALTER COLUMN status SET DEFAULT 'open';

-- want: none
CREATE TABLE sessions (id bigint);

-- want: none
ALTER TABLE sessions ADD COLUMN active boolean NOT NULL DEFAULT true;
