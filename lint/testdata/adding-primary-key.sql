CREATE TABLE "Users" ("Id" bigint, "Email" text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint NOT NULL, number text);
CREATE TABLE billing.lines (invoice_id bigint, line_no int);
CREATE UNIQUE INDEX CONCURRENTLY invoices_id_idx ON billing.invoices (id);
CREATE UNIQUE INDEX CONCURRENTLY lines_key_idx ON billing.lines (invoice_id, line_no);
CREATE UNIQUE INDEX CONCURRENTLY "Users_Id_idx" ON "Users" ("Id");
ALTER TABLE "Users" ADD CONSTRAINT "Users_Id_nn" CHECK ("Id" IS NOT NULL) NOT VALID;
ALTER TABLE "Users" VALIDATE CONSTRAINT "Users_Id_nn";
-- migrate:test-split

-- Builds the index and scans for NULLs under ACCESS EXCLUSIVE.
-- want: adding-primary-key
ALTER TABLE "Users" ADD PRIMARY KEY ("Email");

-- The safe subcommand does not hide it.
-- want: adding-primary-key
ALTER TABLE billing.invoices ALTER COLUMN number SET DEFAULT '', ADD CONSTRAINT invoices_pkey PRIMARY KEY (id);

-- USING INDEX on nullable columns: an implicit SET NOT NULL scan.
-- want: adding-primary-key
ALTER TABLE billing.lines ADD CONSTRAINT lines_pkey PRIMARY KEY USING INDEX lines_key_idx;

-- An index the model never saw: its columns may be nullable.
-- want: adding-primary-key
ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX orders_id_idx;

-- USING INDEX on a column known NOT NULL: catalog only.
-- want: none
ALTER TABLE billing.invoices ADD CONSTRAINT invoices_pk PRIMARY KEY USING INDEX invoices_id_idx;

-- A validated CHECK ("Id" IS NOT NULL) proves the column on PostgreSQL 12+.
-- want: none
ALTER TABLE "Users" ADD CONSTRAINT "Users_pkey" PRIMARY KEY USING INDEX "Users_Id_idx";

-- want: none
CREATE TABLE sessions (id bigint, token text);

-- want: none
ALTER TABLE sessions ADD PRIMARY KEY (id);
