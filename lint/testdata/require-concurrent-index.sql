CREATE TABLE books (id bigint PRIMARY KEY, title text, author_id bigint, code text);
CREATE TABLE "Orders" ("Id" bigint PRIMARY KEY, "customerId" bigint);
CREATE TABLE events (id bigint, at timestamptz) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
-- migrate:test-split

-- want: require-concurrent-index
CREATE INDEX books_title_idx ON books (title);

-- want: require-concurrent-index
CREATE UNIQUE INDEX IF NOT EXISTS "Orders_customerId_key" ON "Orders" ("customerId") WHERE "customerId" IS NOT NULL;

-- Never created by any migration we saw: exists, shape unknown.
-- want: require-concurrent-index
CREATE INDEX ON billing.invoices USING gin (tags);

-- A partition is an ordinary table for CONCURRENTLY.
-- want: require-concurrent-index
CREATE INDEX events_2024_at_idx ON events_2024 (at);

-- want: none
CREATE INDEX CONCURRENTLY books_code_idx ON books (code);

-- Created by this migration: empty, nobody waits on it.
-- want: none
CREATE TABLE reviews (id bigint, book_id bigint);

-- want: none
CREATE INDEX reviews_book_id_idx ON reviews (book_id);

-- The partitioned parent is the partitioned-index rule's business.
-- want: none
CREATE INDEX events_at_idx ON events (at);

-- want: none
CREATE INDEX CONCURRENTLY ON billing."LineItems" ("invoiceId");
