-- expect: optimize-table
OPTIMIZE TABLE events, page_views;
