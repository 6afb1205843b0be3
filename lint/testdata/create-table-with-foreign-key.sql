CREATE TABLE "Users" ("Id" bigint PRIMARY KEY);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY);
-- migrate:test-split

-- want: create-table-with-foreign-key
CREATE TABLE "Sessions" ("Id" bigint PRIMARY KEY, "UserId" bigint REFERENCES "Users" ("Id"));

-- want: create-table-with-foreign-key
CREATE TABLE billing.payments (id bigint PRIMARY KEY, invoice_id bigint, CONSTRAINT payments_invoice_fk FOREIGN KEY (invoice_id) REFERENCES billing.invoices (id));

-- A table never created here is treated as existing.
-- want: create-table-with-foreign-key
CREATE TABLE order_notes (id bigint, order_id bigint REFERENCES orders);

-- An FK added afterwards to a table this migration created is the same thing.
-- want: none
CREATE TABLE billing.refunds (id bigint PRIMARY KEY, invoice_id bigint);

-- want: create-table-with-foreign-key
ALTER TABLE billing.refunds ADD COLUMN note text, ADD CONSTRAINT refunds_invoice_fk FOREIGN KEY (invoice_id) REFERENCES billing.invoices (id);

-- References only tables created by this migration, or itself.
-- want: none
CREATE TABLE billing.refund_lines (id bigint PRIMARY KEY, parent_id bigint REFERENCES billing.refund_lines, refund_id bigint REFERENCES billing.refunds);

-- want: none
CREATE TABLE tags (id bigint PRIMARY KEY, name text);

SET lock_timeout = '2s';

-- With a lock_timeout the wait is bounded.
-- want: none
CREATE TABLE "Devices" ("Id" bigint PRIMARY KEY, "UserId" bigint REFERENCES "Users" ("Id"));
