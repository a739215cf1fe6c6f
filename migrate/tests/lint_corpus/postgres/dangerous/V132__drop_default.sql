-- expect: ban-drop-default
ALTER TABLE orders ALTER COLUMN status DROP DEFAULT;
