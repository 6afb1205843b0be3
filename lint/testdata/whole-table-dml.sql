CREATE TABLE books (id bigint PRIMARY KEY, status text, isbn text, "isbnNormalized" text, author_id bigint, author_name text);
CREATE TABLE authors (id bigint PRIMARY KEY, name text);
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

-- want: none
CREATE TABLE imports (id bigint, row_status text);

-- want: none
UPDATE imports SET row_status = 'new';
