-- The monitor's inbox (migration 0820), written by ingest in the transaction that stores
-- the readings when the monitor is partitioned (HEATLINK_MONITOR_PARTITIONS > 0).

-- name: append
INSERT INTO monitor_inbox (series_id, ts_us, value, quality)
    VALUES ($1::int[], $2::bigint[], $3::float8[], $4::int2[]);
