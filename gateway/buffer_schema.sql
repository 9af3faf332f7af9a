-- The gateway's durable buffer. Rows are removed only when the service acknowledged them.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Series keys are stored once; chunks refer to them by a small integer.
CREATE TABLE IF NOT EXISTS series (
    id  INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);
-- One row per series per received batch (gateway/buffer_chunks.py): its readings packed
-- in three columns, little-endian: int64 source times in microseconds, float64 values,
-- uint8 quality codes. A series' readings are in the order of its chunks' ids, then of
-- their index in the chunk; the first `skip` of a chunk were delivered already.
-- AUTOINCREMENT: ids are never reused, so a chunk id always means the same readings.
CREATE TABLE IF NOT EXISTS chunks (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id INTEGER NOT NULL,
    unit      TEXT,  -- as measured, when the plant said; NULL: the series' own unit
    count     INTEGER NOT NULL,  -- readings in the chunk, delivered ones included
    skip      INTEGER NOT NULL DEFAULT 0,
    added_us  INTEGER NOT NULL,
    ts_us     BLOB NOT NULL,
    value     BLOB NOT NULL,
    quality   BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks (series_id, id);
