-- expect: ban-drop-schema
DROP SCHEMA reporting CASCADE;
