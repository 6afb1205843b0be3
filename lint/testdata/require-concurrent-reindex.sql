CREATE TABLE books (id bigint PRIMARY KEY, title text);
CREATE INDEX books_title_idx ON books (title);
-- migrate:test-split

-- want: require-concurrent-reindex
REINDEX INDEX books_title_idx;

-- want: require-concurrent-reindex
REINDEX TABLE books;

-- want: require-concurrent-reindex
REINDEX TABLE billing."Invoices";

-- want: require-concurrent-reindex
REINDEX (VERBOSE) INDEX billing.invoices_pkey;

-- want: none
REINDEX INDEX CONCURRENTLY books_title_idx;

-- want: none
REINDEX TABLE CONCURRENTLY billing."Invoices";

-- want: none
CREATE TABLE drafts (id bigint PRIMARY KEY);

-- want: none
REINDEX TABLE drafts;
