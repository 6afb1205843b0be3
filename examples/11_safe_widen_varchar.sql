-- "Allow longer display names." A binary-coercible change on a known column: no rewrite.
CREATE TABLE profiles (id bigint PRIMARY KEY, display_name varchar(50));
