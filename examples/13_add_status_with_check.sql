-- "Add a status column to orders; existing orders are all 'placed'."
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'placed' CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled'));
