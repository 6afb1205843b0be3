CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Email" text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, amount numeric(10,2));
-- migrate:test-split

-- want: adding-volatile-default
ALTER TABLE "Users" ADD COLUMN "Token" uuid DEFAULT gen_random_uuid();

-- want: adding-volatile-default
ALTER TABLE billing.invoices ADD COLUMN created_at timestamptz NOT NULL DEFAULT clock_timestamp();

-- The safe ADD COLUMN does not hide the volatile one.
-- want: adding-volatile-default
ALTER TABLE billing.invoices ADD COLUMN note text, ADD COLUMN seq bigint DEFAULT nextval('billing.invoice_seq');

-- An unknown (user) function may be volatile.
-- want: adding-volatile-default
ALTER TABLE orders ADD COLUMN ref text DEFAULT make_ref();

-- want: adding-volatile-default
ALTER TABLE orders ADD COLUMN jitter float8 DEFAULT random() * 10;

-- want: adding-volatile-default
ALTER TABLE orders ADD COLUMN legacy_id uuid DEFAULT uuid_generate_v4();

-- now() is STABLE: stored once in the catalog on PostgreSQL 11+.
-- want: none
ALTER TABLE "Users" ADD COLUMN "CreatedAt" timestamptz NOT NULL DEFAULT now();

-- squawk flags pg_catalog.now(); it is the same stable function.
-- want: none
ALTER TABLE billing.invoices ADD COLUMN updated_at timestamptz DEFAULT pg_catalog.now();

-- want: none
ALTER TABLE billing.invoices ADD COLUMN status text NOT NULL DEFAULT 'draft'::text, ADD COLUMN due timestamptz DEFAULT CURRENT_TIMESTAMP + interval '30 days';

-- A volatile default set on an existing column applies to new rows only.
-- want: none
ALTER TABLE "Users" ALTER COLUMN "Token" SET DEFAULT gen_random_uuid();

-- want: none
ALTER TABLE orders ADD COLUMN day date DEFAULT CURRENT_DATE, ADD COLUMN tag text DEFAULT NULL;

-- A table created by this migration is empty: nothing to rewrite.
-- want: none
CREATE TABLE sessions (id bigint);

-- want: none
ALTER TABLE sessions ADD COLUMN token uuid DEFAULT gen_random_uuid();
