CREATE TABLE "Rooms" ("Id" bigint PRIMARY KEY, "During" tstzrange);
CREATE SCHEMA billing;
CREATE TABLE billing.subscriptions (id bigint PRIMARY KEY, customer_id bigint, valid tstzrange);
-- migrate:test-split

-- want: adding-exclusion-constraint
ALTER TABLE "Rooms" ADD CONSTRAINT "Rooms_no_overlap" EXCLUDE USING gist ("During" WITH &&);

-- want: adding-exclusion-constraint
ALTER TABLE billing.subscriptions ADD COLUMN note text, ADD EXCLUDE USING gist (customer_id WITH =, valid WITH &&);

-- want: adding-exclusion-constraint
ALTER TABLE bookings ADD CONSTRAINT bookings_excl EXCLUDE USING gist (room WITH =, slot WITH &&) WHERE (NOT cancelled);

-- want: none
ALTER TABLE "Rooms" ADD COLUMN "Name" text;

-- want: none
CREATE TABLE reservations (id bigint, during tstzrange, EXCLUDE USING gist (during WITH &&));

-- want: none
ALTER TABLE reservations ADD CONSTRAINT reservations_excl EXCLUDE USING gist (id WITH =, during WITH &&);
