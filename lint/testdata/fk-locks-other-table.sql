CREATE TABLE authors (id int PRIMARY KEY, name text);
CREATE TABLE editors (id bigint PRIMARY KEY);
CREATE TABLE books (id bigint PRIMARY KEY, author_id int CONSTRAINT books_author_fk REFERENCES authors (id), editor_id bigint, title text);
CREATE TABLE tags (id bigint PRIMARY KEY, label text);
-- migrate:test-split

-- Dropping a foreign key takes ACCESS EXCLUSIVE on the parent too.
-- want: fk-locks-other-table
ALTER TABLE books DROP CONSTRAINT books_author_fk;

-- want: none
ALTER TABLE books ADD CONSTRAINT books_author_fk FOREIGN KEY (author_id) REFERENCES authors (id) NOT VALID;

-- Retyping the referenced key locks and re-checks every child (B4).
-- want: fk-locks-other-table
ALTER TABLE authors ALTER COLUMN id TYPE bigint;

-- Dropping the FK column drops the key with it: ACCESS EXCLUSIVE on authors.
-- want: fk-locks-other-table
ALTER TABLE books DROP COLUMN author_id;

-- The parent named in REFERENCES is not "another table": adding-foreign-key explains that lock.
-- want: none
ALTER TABLE books ADD CONSTRAINT books_editor_fk FOREIGN KEY (editor_id) REFERENCES editors (id) NOT VALID;

-- ACCESS EXCLUSIVE on a parent stops child writes (their FK checks lock its rows): info.
-- want: fk-locks-other-table
ALTER TABLE editors ADD COLUMN bio text;

-- No foreign keys either way.
-- want: none
ALTER TABLE tags ADD COLUMN color text;

-- A weak lock on the parent blocks nothing.
-- want: none
CREATE INDEX CONCURRENTLY editors_id_idx ON editors (id);

-- Dropping the child takes ACCESS EXCLUSIVE on editors, which it references.
-- want: fk-locks-other-table
DROP TABLE books;
