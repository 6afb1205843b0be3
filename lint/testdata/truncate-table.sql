CREATE TABLE authors (id bigint PRIMARY KEY);
CREATE TABLE books (id bigint PRIMARY KEY, author_id bigint REFERENCES authors (id));
-- migrate:test-split

-- want: truncate-table
TRUNCATE books;

-- want: truncate-table
TRUNCATE TABLE authors CASCADE;

-- want: truncate-table
TRUNCATE ONLY billing."Invoices", billing.invoice_lines RESTART IDENTITY;

-- want: none
CREATE TABLE import_rows (id bigint, payload text);

-- A table this migration created is empty and unseen.
-- want: none
TRUNCATE import_rows;
