-- The monitor's inbox (migration 0820), written by ingest in the transaction that stores
-- the readings when the monitor is partitioned (HEATLINK_MONITOR_PARTITIONS > 0).

-- name: append
-- The notification only wakes the holders sooner (each also polls): the row is the
-- record. Delivered at commit, once a transaction.
INSERT INTO monitor_inbox (readings)
    SELECT $1::bytea FROM (SELECT pg_notify('heatlink_monitor_inbox', '')) AS wake;
