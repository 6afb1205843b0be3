CREATE TABLE books (id bigint PRIMARY KEY, title text, code text);
CREATE INDEX books_title_idx ON books (title);
CREATE INDEX "Books_Code_Idx" ON books (code);
CREATE TABLE events (id bigint, at timestamptz) PARTITION BY RANGE (at);
CREATE INDEX events_at_idx ON events (at);
-- migrate:test-split

-- want: require-concurrent-index-drop
DROP INDEX books_title_idx;

-- want: require-concurrent-index-drop
DROP INDEX IF EXISTS "Books_Code_Idx", billing.invoices_tags_idx;

-- Unknown index, schema-qualified: its table existed before.
-- want: require-concurrent-index-drop
DROP INDEX reporting.daily_totals_day_idx;

-- A partitioned index has no concurrent drop: reported as a warning with a lock_timeout recipe.
-- want: require-concurrent-index-drop
DROP INDEX events_at_idx;

-- want: none
DROP INDEX CONCURRENTLY IF EXISTS books_old_idx;

-- want: none
CREATE TABLE drafts (id bigint, body text);

-- want: none
CREATE INDEX drafts_body_idx ON drafts (body);

-- The index of a table created in this migration.
-- want: none
DROP INDEX drafts_body_idx;
