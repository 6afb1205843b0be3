CREATE TABLE events (id bigint, at timestamptz, "userId" bigint) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE audit."Log" (id bigint, kind text) PARTITION BY LIST (kind);
CREATE TABLE books (id bigint PRIMARY KEY, title text);
-- migrate:test-split

-- want: partitioned-index
CREATE INDEX events_at_idx ON events (at);

-- CONCURRENTLY is refused on a partitioned parent.
-- want: partitioned-index
CREATE INDEX CONCURRENTLY events_user_idx ON events ("userId");

-- Partitions unknown to the model: the recipe says how to list them.
-- want: partitioned-index
CREATE UNIQUE INDEX ON audit."Log" (id, kind);

-- Step 1 of the recipe: ON ONLY, no scan.
-- want: none
CREATE INDEX events_id_idx ON ONLY events (id);

-- Step 2: a partition is a plain table.
-- want: none
CREATE INDEX CONCURRENTLY events_2024_id_idx ON events_2024 (id);

-- Not partitioned: require-concurrent-index's business.
-- want: none
CREATE INDEX books_title_idx ON books (title);

-- A partitioned table created by this migration is empty.
-- want: none
CREATE TABLE metrics (at timestamptz, v float8) PARTITION BY RANGE (at);

-- want: none
CREATE INDEX metrics_at_idx ON metrics (at);
