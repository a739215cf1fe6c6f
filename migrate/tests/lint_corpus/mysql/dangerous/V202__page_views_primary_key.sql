-- expect: primary-key-change
ALTER TABLE page_views ADD PRIMARY KEY (id);
