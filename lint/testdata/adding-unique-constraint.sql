CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Email" text, "Handle" text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, number text, year int, tenant_id bigint);
-- migrate:test-split

-- want: adding-unique-constraint
ALTER TABLE "Users" ADD CONSTRAINT "Users_Email_key" UNIQUE ("Email");

-- want: adding-unique-constraint
ALTER TABLE billing.invoices ADD UNIQUE NULLS NOT DISTINCT (tenant_id, number) INCLUDE (year);

-- The USING INDEX one does not hide the other.
-- want: adding-unique-constraint
ALTER TABLE billing.invoices ADD CONSTRAINT invoices_number_key UNIQUE USING INDEX invoices_number_idx, ADD CONSTRAINT invoices_year_number_key UNIQUE (year, number);

-- want: adding-unique-constraint
ALTER TABLE orders ADD CONSTRAINT orders_ref_key UNIQUE (ref) DEFERRABLE INITIALLY DEFERRED;

-- The recipe: build concurrently, then attach (no build, no scan).
-- want: none
CREATE UNIQUE INDEX CONCURRENTLY "Users_Handle_key" ON "Users" ("Handle");

-- want: none
ALTER TABLE "Users" ADD CONSTRAINT "Users_Handle_key" UNIQUE USING INDEX "Users_Handle_key";

-- want: none
CREATE TABLE sessions (id bigint, token text);

-- want: none
ALTER TABLE sessions ADD CONSTRAINT sessions_token_key UNIQUE (token);
