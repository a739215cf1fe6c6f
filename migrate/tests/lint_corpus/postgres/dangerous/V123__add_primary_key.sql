-- expect: adding-serial-primary-key-field, constraint-missing-not-valid
ALTER TABLE page_views ADD PRIMARY KEY (id);
