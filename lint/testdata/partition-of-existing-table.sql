CREATE TABLE events (id bigint, at timestamptz) PARTITION BY RANGE (at);
CREATE TABLE "Tenants" (id bigint, region text) PARTITION BY LIST (region);
-- migrate:test-split

-- want: partition-of-existing-table
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

-- want: partition-of-existing-table
CREATE TABLE tenants.eu PARTITION OF "Tenants" FOR VALUES IN ('eu-west');

-- want: partition-of-existing-table
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- A parent no migration we read created: it exists.
-- want: partition-of-existing-table
CREATE TABLE billing.ledger_2025 PARTITION OF billing.ledger FOR VALUES FROM (2025) TO (2026);

-- want: none
CREATE TABLE metrics (at timestamptz, v float8) PARTITION BY RANGE (at);

-- want: none
CREATE TABLE metrics_2025 PARTITION OF metrics FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

-- The recipe's first step.
-- want: none
CREATE TABLE events_2027 (LIKE events INCLUDING ALL);
