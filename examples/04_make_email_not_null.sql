-- "Emails are required now."
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
