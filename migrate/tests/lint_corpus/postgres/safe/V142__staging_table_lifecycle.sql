CREATE TABLE import_staging (line integer, payload jsonb);
INSERT INTO import_staging (line, payload) VALUES (1, '{}');
UPDATE import_staging SET payload = '{"ok": true}';
DELETE FROM import_staging;
TRUNCATE import_staging;
CREATE INDEX import_staging_line ON import_staging (line);
ALTER TABLE import_staging ADD COLUMN note text NOT NULL;
DROP TABLE import_staging;
