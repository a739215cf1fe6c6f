-- squawk's style rules fire here (int, varchar, timestamp without time
-- zone); none of them affects the running release.
CREATE TABLE feature_flags (
    id int PRIMARY KEY,
    name varchar(100) NOT NULL,
    enabled boolean NOT NULL DEFAULT false,
    updated_at timestamp NOT NULL DEFAULT now()
);
