-- expect: non-concurrent-index
-- app.events is new; public.events (the search path's) is not.
CREATE TABLE app.events (id bigint PRIMARY KEY, kind text);
CREATE INDEX app_events_kind ON app.events (kind);
CREATE INDEX events_kind ON events (kind);
