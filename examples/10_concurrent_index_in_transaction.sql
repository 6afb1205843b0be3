-- "Use CONCURRENTLY so the index build does not block writes."
BEGIN;
CREATE INDEX CONCURRENTLY users_created_at_idx ON users (created_at);
COMMIT;
