-- expect: lock-shared-or-exclusive
ALTER TABLE events ADD INDEX events_source_idx (source), ALGORITHM=INPLACE, LOCK=SHARED;
