CREATE TABLE events (id bigint, at timestamptz) PARTITION BY RANGE (at);
CREATE TABLE events_2024 (id bigint, at timestamptz);
CREATE TABLE events_2025 (id bigint, at timestamptz);
ALTER TABLE events_2025 ADD CONSTRAINT events_2025_bound CHECK (at IS NOT NULL AND at >= '2025-01-01' AND at < '2026-01-01') NOT VALID;
ALTER TABLE events_2025 VALIDATE CONSTRAINT events_2025_bound;
CREATE TABLE "Tenants" (id bigint, region text) PARTITION BY LIST (region);
-- migrate:test-split

-- want: attach-partition
ALTER TABLE events ATTACH PARTITION events_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');

-- want: attach-partition
ALTER TABLE "Tenants" ATTACH PARTITION tenants.eu FOR VALUES IN ('eu-west', 'eu-central');

-- want: attach-partition
ALTER TABLE events ATTACH PARTITION archive.events_old DEFAULT;

-- A validated CHECK implies the bound: no scan.
-- want: none
ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

-- want: none
CREATE TABLE events_2026 (LIKE events INCLUDING ALL);

-- New and empty: the check is instant.
-- want: none
ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
