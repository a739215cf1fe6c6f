-- expect: rename-column, change-column-type
ALTER TABLE users CHANGE name full_name VARCHAR(200) NOT NULL;
