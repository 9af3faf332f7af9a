-- Every evaluation of the monitor updates the watermark of each series it moved: a
-- thousand rows a save under bench ingest. With full pages the new row versions go to
-- other pages, and each needs a new entry in the primary key as well (about three WAL
-- records a row, the update taking tens of milliseconds beside the COPYs of ingest).
-- Half-empty pages keep the new version on its page (a HOT update: no index entry, one
-- WAL record a row). It applies to pages written from now on: an existing table's rows
-- move to such pages as they are updated.
ALTER TABLE monitor_watermarks SET (fillfactor = 50);
