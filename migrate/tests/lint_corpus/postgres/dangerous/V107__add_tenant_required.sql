-- expect: add-not-null-column-without-default
ALTER TABLE projects ADD COLUMN tenant_id bigint NOT NULL;
