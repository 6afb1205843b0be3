-- "Add a column for the last login IP." Done the way migrate would: a short
-- lock_timeout, a nullable column with no default (a catalog-only change),
-- and the index built concurrently outside any transaction.
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN last_login_ip inet;
CREATE INDEX CONCURRENTLY users_last_login_ip_idx ON users (last_login_ip);
