INSERT INTO notes (body) VALUES ('DROP TABLE users; TRUNCATE orders;');
