CREATE TABLE orders (id bigint PRIMARY KEY, total numeric, day date);
CREATE MATERIALIZED VIEW daily_totals AS SELECT day, sum(total) AS total FROM orders GROUP BY day;
CREATE UNIQUE INDEX daily_totals_day_idx ON daily_totals (day);
-- migrate:test-split

-- want: refresh-materialized-view
REFRESH MATERIALIZED VIEW daily_totals;

-- want: refresh-materialized-view
REFRESH MATERIALIZED VIEW reporting."MonthlyTotals";

-- want: refresh-materialized-view
REFRESH MATERIALIZED VIEW daily_totals WITH NO DATA;

-- want: none
REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals;

-- want: none
CREATE MATERIALIZED VIEW weekly_totals AS SELECT date_trunc('week', day) AS week, sum(total) AS total FROM orders GROUP BY 1;

-- want: none
REFRESH MATERIALIZED VIEW weekly_totals;
