-- "Add a lowercase email column and fill it."
ALTER TABLE users ADD COLUMN email_normalized text;
UPDATE users SET email_normalized = lower(email);
