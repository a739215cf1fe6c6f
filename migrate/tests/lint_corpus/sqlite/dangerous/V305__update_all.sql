-- expect: update-without-where
UPDATE users SET plan = 'free';
