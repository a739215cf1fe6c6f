-- expect: ban-drop-database
-- The reporting schema moved to the warehouse.
DROP DATABASE reporting;
