-- want: dynamic-sql
DO $$
BEGIN
  EXECUTE format('ALTER TABLE %I ADD COLUMN note text', 'books');
END
$$;

-- want: dynamic-sql
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'billing' LOOP
    EXECUTE 'ANALYZE billing.' || quote_ident(t);
  END LOOP;
END
$$;

-- want: dynamic-sql
CREATE FUNCTION public.make_partition(day date) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                 'events_' || to_char(day, 'YYYYMMDD'), day, day + 1);
END
$fn$;

-- want: none
DO $$
BEGIN
  ALTER TABLE books ADD COLUMN IF NOT EXISTS note text;
END
$$;

-- want: none
ALTER TABLE books ADD COLUMN title text;
