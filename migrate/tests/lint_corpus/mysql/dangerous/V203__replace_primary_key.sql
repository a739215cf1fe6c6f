-- expect: primary-key-change
ALTER TABLE memberships DROP PRIMARY KEY, ADD PRIMARY KEY (org_id, user_id);
