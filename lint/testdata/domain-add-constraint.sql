CREATE DOMAIN posint AS integer;
CREATE TABLE books (id bigint PRIMARY KEY, pages posint);
-- migrate:test-split

-- want: domain-add-constraint
ALTER DOMAIN posint ADD CONSTRAINT posint_positive CHECK (VALUE > 0);

-- A domain the model has never seen: its users are unknown, so assume some.
-- want: domain-add-constraint
ALTER DOMAIN billing."Money" ADD CHECK (VALUE >= 0);

-- want: domain-add-constraint
ALTER DOMAIN posint SET NOT NULL;

-- want: none
ALTER DOMAIN posint ADD CONSTRAINT posint_small CHECK (VALUE < 100000) NOT VALID;

-- want: none
CREATE DOMAIN email AS text;

-- Created by this migration and used by no existing table.
-- want: none
ALTER DOMAIN email ADD CONSTRAINT email_at CHECK (VALUE LIKE '%@%');
