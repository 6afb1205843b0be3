CREATE TABLE books (id bigint PRIMARY KEY, title text);
CREATE UNLOGGED TABLE staging_rows (id bigint, payload jsonb);
CREATE INDEX books_title_idx ON books (title);
-- migrate:test-split

-- want: rewriting-table-operation
VACUUM FULL books;

-- want: rewriting-table-operation
CLUSTER books USING books_title_idx;

-- want: rewriting-table-operation
ALTER TABLE books SET TABLESPACE fast_ssd, SET (fillfactor = 80);

-- want: rewriting-table-operation
ALTER TABLE staging_rows SET LOGGED;

-- want: rewriting-table-operation
ALTER TABLE billing."Invoices" SET ACCESS METHOD heap2;

-- Already logged: nothing to rewrite.
-- want: none
ALTER TABLE books SET LOGGED;

-- Plain VACUUM takes SHARE UPDATE EXCLUSIVE only.
-- want: none
VACUUM (ANALYZE) books;

-- want: none
CREATE TABLE scratch (id bigint);

-- want: none
ALTER TABLE scratch SET UNLOGGED;
