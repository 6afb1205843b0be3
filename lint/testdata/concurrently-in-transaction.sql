CREATE TABLE books (id bigint PRIMARY KEY, title text, code text);
CREATE TABLE events (id bigint, at timestamptz) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
-- migrate:test-split

BEGIN;

-- want: concurrently-in-transaction
CREATE INDEX CONCURRENTLY books_title_idx ON books (title);

-- want: concurrently-in-transaction
DROP INDEX CONCURRENTLY IF EXISTS "Books_Code_Idx";

-- want: concurrently-in-transaction
REINDEX INDEX CONCURRENTLY billing.invoices_pkey;

-- want: concurrently-in-transaction
ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;

-- want: concurrently-in-transaction
VACUUM (ANALYZE) books;

-- ANALYZE alone runs fine in a transaction.
-- want: none
ANALYZE books;

-- REFRESH ... CONCURRENTLY is allowed in a transaction.
-- want: none
REFRESH MATERIALIZED VIEW CONCURRENTLY reporting.daily_totals;

-- want: none
CREATE TABLE drafts (id bigint, body text);

-- Still fails on a new table; the fix drops CONCURRENTLY instead.
-- want: concurrently-in-transaction
CREATE INDEX CONCURRENTLY drafts_body_idx ON drafts (body);

COMMIT;

-- Outside the transaction block (like goose NO TRANSACTION or psql -f): fine.
-- want: none
CREATE INDEX CONCURRENTLY books_code_idx ON books (code);

-- want: none
VACUUM books;
