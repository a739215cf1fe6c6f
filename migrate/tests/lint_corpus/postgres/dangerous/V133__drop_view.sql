-- expect: ban-drop-view
DROP VIEW IF EXISTS active_users;
