-- expect: delete-without-where
DELETE FROM notifications;
