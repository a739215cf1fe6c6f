INSERT IGNORE INTO countries (code, name) VALUES ('DE', 'Germany'), ('FR', 'France');
