-- Events posted to /v1/events.
CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
