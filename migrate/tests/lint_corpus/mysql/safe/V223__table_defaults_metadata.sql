ALTER TABLE comments DEFAULT CHARACTER SET utf8mb4, COMMENT = 'user comments';
