-- Events posted to /v1/events.
CREATE TABLE events (
    id         VARCHAR(36)  PRIMARY KEY,
    kind       VARCHAR(100) NOT NULL,
    payload    TEXT         NOT NULL,
    actor      VARCHAR(200) NOT NULL,
    created_at VARCHAR(32)  NOT NULL
);
