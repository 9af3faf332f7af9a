-- Ingest's writes: `series` (from the cluster file), `readings` once per (series, source
-- timestamp), `ingest_batches` (a batch id answered once) and `quarantine`. Readings that
-- another domain computes (the monitor's heat power) come in through the same staging
-- path (services/ingest/derived.py). The fast path of a new batch is a binary COPY into
-- `readings` (services/ingest/copy_binary.py), which needs no statement here.

-- name: sync_series
INSERT INTO series (key, asset, quantity, unit, owner, range_min, range_max, derived)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (key) DO UPDATE SET
    asset = EXCLUDED.asset, quantity = EXCLUDED.quantity, unit = EXCLUDED.unit,
    owner = EXCLUDED.owner, range_min = EXCLUDED.range_min,
    range_max = EXCLUDED.range_max, derived = EXCLUDED.derived;

-- name: series_limits
SELECT id, key, unit, range_min, range_max FROM series;

-- name: derived_series
-- The series computed from others (the `derived` flag the cluster file's sync sets).
SELECT id, key FROM series WHERE derived;

-- name: replayed_result
SELECT result FROM ingest_batches WHERE gateway = $1 AND batch_id = $2;

-- name: claim_batch
-- With the fast path the answer is known before the readings are written: the claim
-- carries it (one round trip less); the staging path writes it after (update_result).
INSERT INTO ingest_batches (gateway, batch_id, result) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING RETURNING true;

-- name: update_result
UPDATE ingest_batches SET result = $3 WHERE gateway = $1 AND batch_id = $2;

-- name: create_staging
-- Per connection, emptied by each commit: the readings of one transaction on their way in.
CREATE TEMP TABLE IF NOT EXISTS incoming_readings (pos integer, series_id integer,
    ts timestamptz, value double precision, quality smallint) ON COMMIT DELETE ROWS;

-- name: staged_already_stored
-- What is stored already, or repeated earlier in the same batch (a repeat inside the batch
-- counts like one already stored): each with the value stored and the value sent.
SELECT i.pos, i.value AS new_value, r.value AS old_value FROM incoming_readings i
JOIN readings r USING (series_id, ts)
UNION ALL
SELECT i.pos, i.value, f.value FROM incoming_readings i
JOIN incoming_readings f ON f.series_id = i.series_id AND f.ts = i.ts
    AND f.pos < i.pos AND NOT EXISTS (SELECT 1 FROM readings r
                                      WHERE r.series_id = i.series_id AND r.ts = i.ts);

-- name: insert_staged
INSERT INTO readings (series_id, ts, value, quality)
SELECT series_id, ts, value, quality FROM incoming_readings ORDER BY pos
ON CONFLICT DO NOTHING;
