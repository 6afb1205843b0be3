-- The fixture of locks.md §0: books (20k rows, 3 indexes: pkey, title,
-- code) with a foreign key to authors (2k rows), range-partitioned events
-- with events_2024, an enum, a domain with and one without CHECK, a view
-- and a materialized view. logs is an extra FK-free table for statements
-- that FKs would refuse (SET UNLOGGED).
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int;
CREATE DOMAIN posint2 AS int CHECK (VALUE > 0);
CREATE SEQUENCE book_seq AS int;
CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO authors SELECT g, 'author ' || g FROM generate_series(1, 2000) g;
CREATE TABLE books (
	id int NOT NULL CONSTRAINT books_pkey PRIMARY KEY,
	author_id int CONSTRAINT books_author_fk REFERENCES authors (id),
	title text, code varchar(20), isbn text, price int, status text,
	published timestamp, amount numeric(10, 2), m mood, d2 posint
);
CREATE INDEX books_title_idx ON books (title);
CREATE INDEX books_code_idx ON books (code);
INSERT INTO books SELECT g, 1 + g % 1000, 'title ' || g, 'c' || g, 'isbn' || g, g % 100, 'ok',
	'2024-01-01'::timestamp + g * interval '1 minute', g / 100.0, 'ok', g
FROM generate_series(1, 20000) g;
CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, payload text) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events SELECT g, '2024-01-01'::timestamptz + g * interval '1 hour', 'p' || g FROM generate_series(1, 1000) g;
CREATE TABLE logs (id int PRIMARY KEY, msg text);
INSERT INTO logs SELECT g, 'm' || g FROM generate_series(1, 5000) g;
CREATE VIEW book_titles AS SELECT id, title FROM books;
CREATE MATERIALIZED VIEW status_counts AS SELECT status, count(*) AS n FROM books GROUP BY status;
CREATE UNIQUE INDEX status_counts_status_idx ON status_counts (status);
CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
