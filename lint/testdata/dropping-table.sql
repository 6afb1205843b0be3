CREATE TABLE authors (id bigint PRIMARY KEY);
CREATE TABLE books (id bigint PRIMARY KEY, author_id bigint REFERENCES authors (id));
CREATE TABLE "Legacy" (id bigint);
-- migrate:test-split

-- want: dropping-table
DROP TABLE books;

-- want: dropping-table
DROP TABLE IF EXISTS "Legacy", archive.old_orders CASCADE;

-- want: dropping-table
DROP TABLE reporting.daily_totals;

-- want: none
CREATE TABLE tmp_import (id bigint);

-- want: none
DROP TABLE tmp_import;

-- Views are not tables.
-- want: none
DROP VIEW IF EXISTS authors_view;
