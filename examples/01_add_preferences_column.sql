-- "users has about 50M rows. Add a preferences jsonb column, and give every
-- user a public id we can show in URLs instead of the serial one."
ALTER TABLE users ADD COLUMN preferences jsonb NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
