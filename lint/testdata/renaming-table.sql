CREATE TABLE books (id bigint PRIMARY KEY, title text);
CREATE TABLE authors (id bigint PRIMARY KEY);
-- migrate:test-split

-- want: renaming-table
ALTER TABLE books RENAME TO titles;

-- want: renaming-table
ALTER TABLE billing."Invoices" RENAME TO "Bills";

-- want: renaming-table
ALTER TABLE IF EXISTS authors RENAME TO writers;

-- Column renames belong to another rule.
-- want: none
ALTER TABLE titles RENAME COLUMN title TO name;

-- want: none
CREATE TABLE tmp (id bigint);

-- want: none
ALTER TABLE tmp RENAME TO tmp2;
