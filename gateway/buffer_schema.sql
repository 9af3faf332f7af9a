-- The gateway's durable buffer. Rows are removed only when the service acknowledged them.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Series keys are stored once; readings refer to them by a small integer.
CREATE TABLE IF NOT EXISTS series (
    id  INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);
-- AUTOINCREMENT: ids are never reused, so a batch id made of row ids is never reused either.
CREATE TABLE IF NOT EXISTS readings (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id INTEGER NOT NULL,
    ts_us     INTEGER NOT NULL,
    value     REAL NOT NULL,
    quality   INTEGER NOT NULL,
    added_us  INTEGER NOT NULL,
    unit      TEXT  -- as measured, when the plant said; NULL: the series' own unit
);
CREATE INDEX IF NOT EXISTS readings_by_series ON readings (series_id, id);
