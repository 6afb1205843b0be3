-- "The legacy_plan column is not used any more; drop it."
ALTER TABLE accounts DROP COLUMN legacy_plan;
