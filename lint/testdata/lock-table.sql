CREATE TABLE books (id bigint PRIMARY KEY);
-- migrate:test-split

-- want: lock-table
LOCK TABLE books;

-- want: lock-table
LOCK TABLE billing."Invoices" IN SHARE MODE;

-- want: lock-table
LOCK books, reporting.daily_totals IN SHARE ROW EXCLUSIVE MODE NOWAIT;

-- Weak modes are reported at info level only.
-- want: lock-table
LOCK TABLE books IN ROW EXCLUSIVE MODE;

-- want: none
CREATE TABLE scratch (id bigint);

-- want: none
LOCK TABLE scratch IN ACCESS EXCLUSIVE MODE;
