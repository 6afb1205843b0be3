-- "We are about to run out of integer ids on events."
ALTER TABLE events ALTER COLUMN id TYPE bigint;
