CREATE TABLE "Users" ("Id" bigint PRIMARY KEY, "Prefs" text);
-- migrate:test-split

-- want: prefer-jsonb
ALTER TABLE "Users" ADD COLUMN "Settings" json;

-- want: prefer-jsonb
ALTER TABLE billing.invoices ADD COLUMN note text, ADD COLUMN payload json NOT NULL DEFAULT '{}';

-- Advice, so new tables get it too.
-- want: prefer-jsonb
CREATE TABLE events (id bigint, data json, tags json[]);

-- want: prefer-jsonb
ALTER TABLE "Users" ALTER COLUMN "Prefs" TYPE json USING "Prefs"::json;

-- want: none
ALTER TABLE "Users" ADD COLUMN "Meta" jsonb;

-- want: none
CREATE TABLE audits (id bigint, body jsonb);
