-- "Add a preferences column to users with a generated id for each row."
ALTER TABLE users ADD COLUMN preferences jsonb NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
