-- expect: fulltext-or-spatial-index
ALTER TABLE stores ADD SPATIAL INDEX stores_location_idx (location);
