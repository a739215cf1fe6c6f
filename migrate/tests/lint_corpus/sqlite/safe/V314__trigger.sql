CREATE TRIGGER events_touch AFTER UPDATE ON events
BEGIN
    UPDATE events SET payload = json_set(payload, '$.touched', 1) WHERE id = NEW.id;
    DELETE FROM event_cache WHERE event_id = NEW.id;
END;
