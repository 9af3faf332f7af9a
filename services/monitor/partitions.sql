-- The partitioned monitor's tables (migration 0820): replicas' heartbeats, partition
-- leases and the inbox. Loaded by name from services/monitor/lease.py and inbox.py.
-- Every time here is the database's now(): replicas' clocks never decide a lease.

-- name: heartbeat
INSERT INTO service_replicas (replica, heartbeat_at) VALUES ($1, now())
    ON CONFLICT (replica) DO UPDATE SET heartbeat_at = now();

-- name: live_replicas
SELECT count(*) FROM service_replicas
    WHERE heartbeat_at > now() - make_interval(secs => $1);

-- name: forget_replica
DELETE FROM service_replicas WHERE replica = $1;

-- name: make_partitions
INSERT INTO monitor_partitions (partition) SELECT generate_series(0, $1 - 1)
    ON CONFLICT DO NOTHING;

-- name: renew
-- The caller's partitions still its own, their leases renewed.
UPDATE monitor_partitions SET lease_until = now() + make_interval(secs => $2)
    WHERE owner = $1 AND lease_until >= now() AND partition < $3
    RETURNING partition, epoch;

-- name: claim
-- Up to $3 partitions that nobody holds (released, or the holder stopped renewing);
-- SKIP LOCKED: of two replicas claiming at once each gets others. The epoch counts
-- changes of owner: the fencing token of every write of the partition's state.
UPDATE monitor_partitions p SET owner = $1, lease_until = now() + make_interval(secs => $2),
    epoch = p.epoch + 1
    FROM (SELECT partition FROM monitor_partitions
          WHERE (owner IS NULL OR lease_until < now()) AND partition < $4
          ORDER BY partition LIMIT $3 FOR UPDATE SKIP LOCKED) AS free
    WHERE p.partition = free.partition
    RETURNING p.partition, p.epoch;

-- name: release
UPDATE monitor_partitions SET owner = NULL, lease_until = '-infinity'
    WHERE partition = ANY($2::int[]) AND owner = $1;

-- name: fence
-- In the transaction that saves findings and watermarks: the caller still holds each
-- partition at the epoch it evaluated under, and its inbox is applied up to $4. A row
-- lock: a claim by another replica waits for this transaction, and one that came first
-- makes this return fewer rows (the save is rolled back).
UPDATE monitor_partitions SET inbox_done = greatest(inbox_done, $4::text::xid8)
    FROM unnest($2::int[], $3::bigint[]) AS mine(partition, epoch)
    WHERE monitor_partitions.partition = mine.partition AND owner = $1
      AND monitor_partitions.epoch = mine.epoch
    RETURNING monitor_partitions.partition;

-- name: inbox_done
SELECT partition, inbox_done::text::bigint AS done FROM monitor_partitions
    WHERE partition = ANY($1::int[]);

-- name: inbox_horizon
-- Every transaction below this id has ended: its inbox rows are visible to a statement
-- that starts after this one, or never will be.
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint;

-- name: inbox_rows
-- index: monitor_inbox_xid
SELECT xid::text::bigint AS xid, readings FROM monitor_inbox
    WHERE xid >= $1::text::xid8 AND xid < $2::text::xid8 ORDER BY xid, id;

-- name: inbox_trim
-- Rows every partition has applied.
-- index: monitor_inbox_xid
DELETE FROM monitor_inbox WHERE xid < (SELECT min(inbox_done) FROM monitor_partitions
                                      WHERE partition < $1);

-- name: warm_up
-- The readings a taken-over series' history needs: at most the history's capacity ($4)
-- of each, within $3 seconds before its watermark and none after it (those come from the
-- inbox). One index range scan a series; one row a series, its columns as arrays (decoded
-- in C, not a record a reading).
SELECT m.key, array_agg(extract(epoch FROM r.ts)::float8 ORDER BY r.ts) AS t_s,
       array_agg(r.value ORDER BY r.ts) AS value, array_agg(r.quality ORDER BY r.ts) AS quality
    FROM unnest($1::text[], $2::timestamptz[]) AS m(key, mark)
    JOIN series s ON s.key = m.key
    CROSS JOIN LATERAL (
        SELECT ts, value, quality FROM readings
        WHERE series_id = s.id AND ts <= m.mark
          AND ts > m.mark - make_interval(secs => $3)
        ORDER BY ts DESC LIMIT $4) AS r
    GROUP BY m.key;

-- name: rule_versions_count
-- Versions are only ever added: a new count means a rule changed somewhere.
SELECT count(*) FROM monitor_rule_versions;

-- name: latest_rules
-- The running version of every rule: a change made through another replica reaches the
-- holder of the rule's partition by this.
SELECT DISTINCT ON (rule_id) rule_id, version, spec FROM monitor_rule_versions
    ORDER BY rule_id, version DESC;
