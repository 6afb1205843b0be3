CREATE TABLE "Users" ("First" text, "Last" text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (amount numeric(10,2), tax numeric(10,2), total numeric GENERATED ALWAYS AS (amount + tax) STORED);
-- migrate:test-split

-- want: adding-stored-generated-column
ALTER TABLE "Users" ADD COLUMN "Full" text GENERATED ALWAYS AS ("First" || ' ' || "Last") STORED;

-- want: adding-stored-generated-column
ALTER TABLE billing.invoices ADD COLUMN note text, ADD COLUMN gross numeric GENERATED ALWAYS AS (amount * 1.2) STORED;

-- SET EXPRESSION (PostgreSQL 17) recomputes every row too.
-- want: adding-stored-generated-column
ALTER TABLE billing.invoices ALTER COLUMN total SET EXPRESSION AS (amount + tax + 1);

-- want: adding-stored-generated-column
ALTER TABLE orders ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED;

-- DROP EXPRESSION keeps the stored values: no rewrite.
-- want: none
ALTER TABLE billing.invoices ALTER COLUMN total DROP EXPRESSION;

-- want: none
ALTER TABLE "Users" ADD COLUMN "Nick" text;

-- want: none
CREATE TABLE lines (qty int, price numeric, total numeric GENERATED ALWAYS AS (qty * price) STORED);

-- want: none
ALTER TABLE lines ADD COLUMN doubled numeric GENERATED ALWAYS AS (total * 2) STORED;
