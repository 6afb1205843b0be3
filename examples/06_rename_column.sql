-- "Rename users.name to full_name for clarity."
ALTER TABLE users RENAME COLUMN name TO full_name;
