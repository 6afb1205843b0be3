CREATE TABLE authors (id bigint PRIMARY KEY, name text);
CREATE TABLE books (id bigint PRIMARY KEY, author_id bigint, editor_id bigint, title text);
CREATE INDEX books_editor_id_idx ON books (editor_id, title);
CREATE TABLE "Publishers" ("Id" bigint PRIMARY KEY);
-- migrate:test-split

-- want: foreign-key-without-index
ALTER TABLE books ADD CONSTRAINT books_author_fk FOREIGN KEY (author_id) REFERENCES authors (id) NOT VALID;

-- want: foreign-key-without-index
ALTER TABLE books ADD COLUMN "publisherId" bigint REFERENCES "Publishers" ("Id"), ADD COLUMN isbn text;

-- A new table, and no index on book_id anywhere in the migration.
-- want: foreign-key-without-index
CREATE TABLE shop.reviews (id bigint PRIMARY KEY, book_id bigint NOT NULL REFERENCES books (id), body text);

-- An existing index leads with editor_id.
-- want: none
ALTER TABLE books ADD CONSTRAINT books_editor_fk FOREIGN KEY (editor_id) REFERENCES authors (id) NOT VALID;

-- The primary key of the new table leads with book_id.
-- want: none
CREATE TABLE book_tags (book_id bigint REFERENCES books (id), tag text, PRIMARY KEY (book_id, tag));

-- Index first, then the foreign key: accepted.
-- want: none
CREATE TABLE loans (id bigint PRIMARY KEY, book_id bigint);

-- want: none
CREATE INDEX loans_book_id_idx ON loans (book_id);

-- want: none
ALTER TABLE loans ADD CONSTRAINT loans_book_fk FOREIGN KEY (book_id) REFERENCES books (id);

-- The usual order: the table with its foreign key, then its index.
-- want: none
CREATE TABLE holds (id bigint PRIMARY KEY, book_id bigint REFERENCES books (id), placed_at timestamptz);

-- want: none
CREATE INDEX holds_book_id_idx ON holds (book_id, placed_at);
