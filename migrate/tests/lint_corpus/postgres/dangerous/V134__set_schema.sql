-- expect: ban-set-schema
ALTER TABLE old_reports SET SCHEMA archive;
