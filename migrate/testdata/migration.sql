-- An AI-suggested migration: every statement here would block app."Users"
-- or accounts on a busy database if run as written.
SET lock_timeout = '5s';
BEGIN;
ALTER TABLE app."Users" ADD COLUMN "Token" uuid NOT NULL DEFAULT gen_random_uuid();
CREATE INDEX users_age ON app."Users" (age);
ALTER TABLE accounts ADD CONSTRAINT accounts_owner_fk FOREIGN KEY (owner_id) REFERENCES app."Users" (id);
ALTER TABLE app."Users" RENAME COLUMN name TO full_name;
UPDATE accounts SET code = upper(code);
ALTER TABLE accounts DROP COLUMN created;
VACUUM FULL accounts;
COMMIT;
