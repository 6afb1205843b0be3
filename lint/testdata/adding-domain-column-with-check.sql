CREATE DOMAIN email AS text CHECK (VALUE ~ '@');
CREATE SCHEMA billing;
CREATE DOMAIN billing.positive_amount AS numeric(12,2) CHECK (VALUE > 0);
CREATE DOMAIN plain_text AS text;
CREATE TABLE "Users" ("Id" bigint PRIMARY KEY);
CREATE TABLE billing.invoices (id bigint PRIMARY KEY);
-- migrate:test-split

-- want: adding-domain-column-with-check
ALTER TABLE "Users" ADD COLUMN "Email" email;

-- want: adding-domain-column-with-check
ALTER TABLE billing.invoices ADD COLUMN amount billing.positive_amount DEFAULT 1;

-- want: adding-domain-column-with-check
ALTER TABLE billing.invoices ADD COLUMN note text, ADD COLUMN refund billing.positive_amount;

-- A domain created in this migration with a CHECK counts as well.
-- want: none
CREATE DOMAIN us_zip AS text CHECK (VALUE ~ '^[0-9]{5}$');

-- want: adding-domain-column-with-check
ALTER TABLE orders ADD COLUMN zip us_zip;

-- A domain without a CHECK is free.
-- want: none
ALTER TABLE "Users" ADD COLUMN "Bio" plain_text;

-- A type the model never saw created: could be anything, no guess.
-- want: none
ALTER TABLE orders ADD COLUMN "Mail" citext;

-- want: none
CREATE TABLE contacts (id bigint);

-- want: none
ALTER TABLE contacts ADD COLUMN address email;
