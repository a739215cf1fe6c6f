DO SLEEP(0);
INSERT INTO plans (code, name) VALUES ('free', 'Free') ON DUPLICATE KEY UPDATE name = VALUES(name);
