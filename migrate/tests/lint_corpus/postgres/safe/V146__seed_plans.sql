INSERT INTO plans (code, name) VALUES ('free', 'Free'), ('pro', 'Pro')
ON CONFLICT (code) DO NOTHING;
