INSERT OR IGNORE INTO plans (code) VALUES ('free'), ('pro');
DELETE FROM sessions WHERE expires_at < '2024-01-01';
