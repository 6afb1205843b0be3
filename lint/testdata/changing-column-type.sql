CREATE TABLE "Users" ("Id" int PRIMARY KEY, "Email" varchar(100), "Age" int CHECK ("Age" >= 0), "Seen" timestamp, "Code" varchar(20));
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
