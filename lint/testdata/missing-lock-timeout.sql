CREATE TABLE authors (id bigint PRIMARY KEY, name text);
CREATE TABLE books (id bigint PRIMARY KEY, author_id bigint, title text);
-- migrate:test-split

-- want: missing-lock-timeout
ALTER TABLE books ADD COLUMN note text;

-- Reported once per file or transaction, not per statement.
-- want: none
ALTER TABLE authors ADD COLUMN bio text;

BEGIN;
SET LOCAL lock_timeout = '2s';
-- want: none
ALTER TABLE books ADD COLUMN x int;
COMMIT;

BEGIN;
-- want: missing-lock-timeout
CREATE INDEX books_title_idx ON books (title);
-- want: none
ALTER TABLE "Authors_Archive" ADD COLUMN y int;
COMMIT;

BEGIN;
SET LOCAL lock_timeout = 0;
-- Zero means wait forever.
-- want: missing-lock-timeout
DROP TABLE billing."Legacy";
COMMIT;

BEGIN;
-- Weak locks and new tables need no timeout.
-- want: none
UPDATE books SET title = 'x' WHERE id = 1;
-- want: none
CREATE TABLE drafts (id bigint);
-- want: none
ALTER TABLE drafts ADD COLUMN body text;
COMMIT;
