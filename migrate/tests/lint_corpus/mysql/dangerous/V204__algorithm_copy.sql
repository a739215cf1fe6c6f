-- expect: algorithm-copy
ALTER TABLE events ADD COLUMN source VARCHAR(32) NULL, ALGORITHM=COPY;
