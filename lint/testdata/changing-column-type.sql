CREATE TABLE "Users" ("Id" int PRIMARY KEY, "Email" varchar(100), "Age" int CHECK ("Age" >= 0), "Seen" timestamp, "Code" varchar(20));
CREATE TABLE clock (id bigint PRIMARY KEY, tz timetz(2), ts timestamp(3), flags bit(3), big bigint, label text, code text);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, user_id int REFERENCES "Users" ("Id"), amount numeric(10,2), note text, net cidr, span interval(3), status text);
-- migrate:test-split

-- int -> bigint rewrites; the column is an FK, so "Users" is locked too.
-- want: changing-column-type
ALTER TABLE billing.invoices ALTER COLUMN user_id TYPE bigint;

-- Shrinking a varchar rewrites (squawk and eugene get this right; the point
-- is the safe ones below).
-- want: changing-column-type
ALTER TABLE "Users" ALTER COLUMN "Email" TYPE varchar(50);

-- A numeric scale change rewrites; the safe subcommand next to it does not hide it.
-- want: changing-column-type
ALTER TABLE billing.invoices ALTER COLUMN note TYPE varchar, ALTER COLUMN amount TYPE numeric(12,3);

-- text -> varchar(n) must check every value: rewrite.
-- want: changing-column-type
ALTER TABLE billing.invoices ALTER COLUMN status TYPE varchar(10);

-- Current type unknown (table never created here): assumed rewrite.
-- want: changing-column-type
ALTER TABLE orders ALTER COLUMN total TYPE numeric(20,2);

-- A USING that computes something is evaluated per row.
-- want: changing-column-type
ALTER TABLE "Users" ALTER COLUMN "Code" TYPE varchar(40) USING upper("Code");

-- Binary-coercible but "Age" has a CHECK: no rewrite, but a scan under ACCESS EXCLUSIVE.
-- want: changing-column-type
ALTER TABLE "Users" ALTER COLUMN "Age" TYPE int;

-- timestamp -> timestamptz: depends on the session TimeZone (warning).
-- want: changing-column-type
ALTER TABLE "Users" ALTER COLUMN "Seen" TYPE timestamptz;

-- Binary-coercible: varchar widening, varchar -> text, numeric precision
-- increase, cidr -> inet, interval precision increase.
-- want: none
ALTER TABLE "Users" ALTER COLUMN "Code" TYPE varchar(40);

-- want: none
ALTER TABLE billing.invoices ALTER COLUMN amount TYPE numeric(14,3), ALTER COLUMN net TYPE inet;

-- A plain cast to the new type does not change the verdict.
-- want: none
ALTER TABLE "Users" ALTER COLUMN "Email" TYPE text USING "Email"::text;

-- want: none
ALTER TABLE billing.invoices ALTER COLUMN span TYPE interval;

-- want: none
CREATE TABLE sessions (id int, token varchar(10));

-- want: none
ALTER TABLE sessions ALTER COLUMN id TYPE bigint, ALTER COLUMN token TYPE varchar(5);

-- timetz has a support function: more precision is catalog-only (verified).
-- want: none
ALTER TABLE clock ALTER COLUMN tz TYPE timetz(4);

-- timestamp(3) -> timestamp keeps every value: catalog-only (verified).
-- want: none
ALTER TABLE clock ALTER COLUMN ts TYPE timestamp;

-- bit(n) has no support function: any length change rewrites, and every
-- existing value of the old length makes it fail.
-- want: changing-column-type
ALTER TABLE clock ALTER COLUMN flags TYPE bit(5);

-- Narrowing: rewrites, and fails on the first value out of range.
-- want: changing-column-type
ALTER TABLE clock ALTER COLUMN big TYPE int;

-- No assignment cast from text to integer: fails as written.
-- want: changing-column-type
ALTER TABLE clock ALTER COLUMN label TYPE int;

-- With an explicit cast it converts (and may fail on values that do not parse).
-- want: changing-column-type
ALTER TABLE clock ALTER COLUMN code TYPE int USING code::int;
