-- "Usernames must be unique."
ALTER TABLE users ADD CONSTRAINT users_username_key UNIQUE (username);
