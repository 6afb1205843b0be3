CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE people (id bigint PRIMARY KEY, mood mood);
CREATE TYPE "Status" AS ENUM ('active');
CREATE TABLE tickets (id bigint PRIMARY KEY, status "Status");
BEGIN;
ALTER TYPE mood ADD VALUE 'meh';
COMMIT;
-- migrate:test-split

BEGIN;

-- want: none
ALTER TYPE mood ADD VALUE 'angry';

-- want: enum-value-used-in-transaction
UPDATE people SET mood = 'angry' WHERE id = 1;

-- want: enum-value-used-in-transaction
INSERT INTO people (id, mood) VALUES (2, 'angry'::mood);

-- Added by an earlier migration, long committed.
-- want: none
UPDATE people SET mood = 'meh' WHERE id = 3;

COMMIT;

-- Committed now.
-- want: none
UPDATE people SET mood = 'angry' WHERE id = 4;

BEGIN;

-- want: none
ALTER TYPE public."Status" ADD VALUE IF NOT EXISTS 'archived' AFTER 'active';

-- want: enum-value-used-in-transaction
ALTER TABLE tickets ALTER COLUMN status SET DEFAULT 'archived', ALTER COLUMN id SET NOT NULL;

COMMIT;
