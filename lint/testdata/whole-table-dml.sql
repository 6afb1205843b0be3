CREATE TABLE books (id bigint PRIMARY KEY, status text, isbn text, "isbnNormalized" text, author_id bigint, author_name text);
CREATE TABLE authors (id bigint PRIMARY KEY, name text);
CREATE TABLE lines (order_id bigint, line int, qty int, PRIMARY KEY (order_id, line));
CREATE TABLE members (id bigint PRIMARY KEY, email text UNIQUE, plan text);
-- migrate:test-split

-- want: whole-table-dml
UPDATE books SET status = 'draft';

-- want: whole-table-dml
UPDATE books SET "isbnNormalized" = upper(isbn) WHERE "isbnNormalized" IS NULL;

-- A one-sided range can match the whole table.
-- want: whole-table-dml
DELETE FROM billing."Sessions" WHERE created_at < now() - interval '30 days';

-- want: whole-table-dml
UPDATE books b SET author_name = a.name FROM authors a WHERE a.id = b.author_id;

-- want: none
UPDATE books SET status = 'draft' WHERE id = 42;

-- want: none
DELETE FROM books WHERE id IN (1, 2, 3) AND status = 'spam';

-- want: none
UPDATE books SET status = 'archived' WHERE id >= 1000 AND id < 2000;

-- A one-sided range on the key bounds the walk, not the row count: a
-- warning (TestWholeTableDMLSeverity checks the severity).
-- want: whole-table-dml
UPDATE books SET status = 'x' WHERE id < 100;

-- want: whole-table-dml
DELETE FROM books WHERE 1000 <= id;

-- The model knows the key of books: an equality on another column can
-- match every row.
-- want: whole-table-dml
UPDATE books SET status = 'archived' WHERE status = 'draft';

-- Not the leading column of the key (order_id, line).
-- want: whole-table-dml
UPDATE lines SET qty = 0 WHERE line = 3;

-- The table is unknown, so any column counts as a key; one-sided still.
-- want: whole-table-dml
UPDATE billing.invoices SET paid = true WHERE id < 100;

-- want: none
UPDATE books SET status = 'x' WHERE id BETWEEN 1 AND 99;

-- want: none
UPDATE books SET status = 'x' WHERE 100 > id AND id >= 5;

-- want: none
DELETE FROM books WHERE id = ANY (ARRAY[1, 2, 3]);

-- want: none
UPDATE lines SET qty = 0 WHERE order_id = 7;

-- A unique column is a key too.
-- want: none
UPDATE members SET plan = 'pro' WHERE email = 'a@example.com';

-- want: none
UPDATE members SET plan = 'pro' WHERE email IN ('a@example.com', 'b@example.com');

-- want: none
CREATE TABLE imports (id bigint, row_status text);

-- want: none
UPDATE imports SET row_status = 'new';
