-- The monitor's inbox (migration 0820), written by ingest in the transaction that stores
-- the readings when the monitor is partitioned (HEATLINK_MONITOR_PARTITIONS > 0).

-- name: append
INSERT INTO monitor_inbox (readings) VALUES ($1);
