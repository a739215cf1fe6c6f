-- expect: vacuum
VACUUM;
