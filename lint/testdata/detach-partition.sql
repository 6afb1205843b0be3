CREATE TABLE events (id bigint, at timestamptz) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
-- migrate:test-split

-- want: detach-partition
ALTER TABLE events DETACH PARTITION events_2023;

-- want: detach-partition
ALTER TABLE billing."Ledger" DETACH PARTITION billing."Ledger_2019";

-- want: detach-partition
ALTER TABLE IF EXISTS events DETACH PARTITION events_2022;

-- want: none
ALTER TABLE events DETACH PARTITION events_2021 CONCURRENTLY;

-- want: none
ALTER TABLE events DETACH PARTITION events_2021 FINALIZE;

-- want: none
CREATE TABLE scratch (id bigint, at timestamptz) PARTITION BY RANGE (at);

-- want: none
CREATE TABLE scratch_1 PARTITION OF scratch FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');

-- want: none
ALTER TABLE scratch DETACH PARTITION scratch_1;
