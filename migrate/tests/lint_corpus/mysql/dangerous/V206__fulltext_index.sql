-- expect: fulltext-or-spatial-index
CREATE FULLTEXT INDEX posts_body_ft ON posts (title, body);
