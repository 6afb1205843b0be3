CREATE TABLE "Users" ("Id" bigint PRIMARY KEY);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, user_id bigint, "payerId" bigint);
CREATE INDEX invoices_user_id_idx ON billing.invoices (user_id);
CREATE TABLE events (id bigint, user_id bigint, at timestamptz) PARTITION BY RANGE (at);
-- migrate:test-split

-- want: adding-foreign-key
ALTER TABLE billing.invoices ADD CONSTRAINT invoices_user_id_fkey FOREIGN KEY (user_id) REFERENCES "Users" ("Id");

-- Unindexed referencing column: the fix starts with CREATE INDEX CONCURRENTLY.
-- want: adding-foreign-key
ALTER TABLE billing.invoices ADD FOREIGN KEY ("payerId") REFERENCES "Users" ("Id") ON DELETE SET NULL;

-- The NOT VALID one does not hide the other.
-- want: adding-foreign-key
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES "Users" NOT VALID, ADD CONSTRAINT orders_invoice_fk FOREIGN KEY (invoice_id) REFERENCES billing.invoices (id);

-- Partitioned before PostgreSQL 18: NOT VALID is refused, the fix says so.
-- want: adding-foreign-key
ALTER TABLE events ADD CONSTRAINT events_user_fk FOREIGN KEY (user_id) REFERENCES "Users" ("Id");

-- want: none
ALTER TABLE billing.invoices ADD CONSTRAINT invoices_payer_fk FOREIGN KEY ("payerId") REFERENCES "Users" ("Id") NOT VALID;

-- want: none
ALTER TABLE billing.invoices VALIDATE CONSTRAINT invoices_payer_fk;

-- A table created by this migration (create-table-with-foreign-key covers the parent's lock).
-- want: none
CREATE TABLE sessions (id bigint, user_id bigint);

-- want: none
ALTER TABLE sessions ADD CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES "Users" ("Id");
