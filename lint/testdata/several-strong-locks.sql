CREATE TABLE authors (id bigint PRIMARY KEY, name text);
CREATE TABLE books (id bigint PRIMARY KEY, author_id bigint, title text);
-- migrate:test-split

BEGIN;

-- want: none
ALTER TABLE books ADD COLUMN a int;

-- Same table again: no new table locked.
-- want: none
CREATE INDEX books_a_idx ON books (a);

-- want: several-strong-locks
ALTER TABLE authors ADD COLUMN b int;

-- Reported once per transaction, not once per extra table.
-- want: none
ALTER TABLE billing."Invoices" ADD COLUMN c int, ADD COLUMN d int;

COMMIT;

BEGIN;

-- want: none
ALTER TABLE "Authors_Archive" ADD COLUMN c int;

-- want: several-strong-locks
ALTER TABLE billing."Invoices" DROP COLUMN c, DROP COLUMN d;

COMMIT;

BEGIN;

-- want: none
ALTER TABLE books ADD COLUMN e int;

-- want: none
CREATE TABLE reviews (id bigint PRIMARY KEY, book_id bigint);

-- ROW EXCLUSIVE is not a strong lock.
-- want: none
UPDATE authors SET name = 'x' WHERE id = 1;

-- The foreign key locks authors SHARE ROW EXCLUSIVE while books is held.
-- want: several-strong-locks
ALTER TABLE books ADD CONSTRAINT books_author_fk FOREIGN KEY (author_id) REFERENCES authors (id) NOT VALID;

COMMIT;

-- Autocommit: each statement's locks end with it.
-- want: none
ALTER TABLE authors ADD COLUMN f int;

-- want: none
ALTER TABLE books ADD COLUMN g int;
