-- appenv:no-transaction
-- expect: ban-drop-database
DROP DATABASE IF EXISTS analytics_scratch;
