CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Email" text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, amount numeric(10,2));
CREATE TABLE accounts (id bigint PRIMARY KEY);
-- migrate:test-split

-- want: adding-column-with-constraint
ALTER TABLE "Users" ADD COLUMN "Age" int CHECK ("Age" >= 0);

-- want: adding-column-with-constraint
ALTER TABLE billing.invoices ADD COLUMN number text UNIQUE;

-- The plain ADD COLUMN does not hide the one with a PRIMARY KEY.
-- want: adding-column-with-constraint
ALTER TABLE billing.invoices ADD COLUMN note text, ADD COLUMN code text NOT NULL DEFAULT '' PRIMARY KEY;

-- With a default, every row has a value to look up: scan under the locks.
-- want: adding-column-with-constraint
ALTER TABLE billing.invoices ADD COLUMN account_id bigint NOT NULL DEFAULT 0 REFERENCES accounts (id);

-- A nullable column without default is all NULL: no scan, but a SHARE ROW
-- EXCLUSIVE on accounts with no lock_timeout (warning).
-- want: adding-column-with-constraint
ALTER TABLE "Users" ADD COLUMN "AccountId" bigint REFERENCES accounts (id);

-- want: none
ALTER TABLE "Users" ADD COLUMN "Nick" text NOT NULL DEFAULT '';

SET lock_timeout = '2s';

-- With a lock_timeout the brief lock on accounts is bounded.
-- want: none
ALTER TABLE billing.invoices ADD COLUMN payer_id bigint REFERENCES accounts (id);

-- want: none
CREATE TABLE sessions (id bigint);

-- want: none
ALTER TABLE sessions ADD COLUMN user_id bigint UNIQUE CHECK (user_id > 0);
