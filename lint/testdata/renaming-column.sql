CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Email" varchar(200));
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, total numeric(12,2));
-- migrate:test-split

-- want: renaming-column
ALTER TABLE "Users" RENAME COLUMN "Email" TO "EmailAddress";

-- want: renaming-column
ALTER TABLE billing.invoices RENAME total TO amount;

-- want: renaming-column
ALTER TABLE orders RENAME COLUMN ref TO reference;

-- Renaming the table or a constraint is another matter.
-- want: none
ALTER TABLE billing.invoices RENAME CONSTRAINT invoices_pkey TO invoices_pk;

-- want: none
CREATE TABLE drafts (id bigint, body text);

-- want: none
ALTER TABLE drafts RENAME COLUMN body TO content;
