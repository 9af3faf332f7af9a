-- The monitor's tables (migration 0100_monitor.sql): rule versions, findings, watermarks.
-- The insert of a finding and the filtered list of findings are built in store.py from
-- the finding's column list and the filters given: written out here they would repeat
-- that list, which must match the Finding's fields in order.

-- name: lock_rule
-- One writer of a rule's versions at a time, across replicas.
SELECT pg_advisory_xact_lock(hashtext($1));

-- name: latest_rule_version
SELECT version, spec, changed_by FROM monitor_rule_versions
WHERE rule_id = $1 ORDER BY version DESC LIMIT 1;

-- name: insert_rule_version
INSERT INTO monitor_rule_versions (rule_id, version, kind, owner, spec, previous,
    changed_by, changed_at, reason, actor)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: rule_versions
SELECT * FROM monitor_rule_versions WHERE rule_id = $1 ORDER BY version;

-- name: finding_id
-- The id of a finding stored before (its insert met the unique key and returned nothing).
SELECT id FROM monitor_findings WHERE rule_id = $1 AND rule_version = $2
    AND series = $3 AND ts = $4 AND state = $5;

-- name: move_watermarks
-- A watermark only moves forward. $1: {RFC 3339 time with its offset: [series, ...]} as one
-- JSON text: two arrays of a thousand elements cost asyncpg about 1.5 ms to encode, a tenth
-- of what the service spent on the monitor under ingest; the JSON about 0.1 ms. Grouped
-- by time (series sampled at one instant share it), each time is parsed once, not twice a
-- series: the parsing was half of this statement's time. OFFSET 0 keeps the times' subquery
-- from being flattened into the join, where they would be parsed per row again.
-- The common save, every series known: a plain update costs the database about a third
-- less than an upsert (no speculative insert, no tuple lock per row), and a series whose
-- watermark is already later (a batch evaluated out of order) is not written at all. Its
-- row count tells the caller whether some series may be missing, for `add_watermarks`.
UPDATE monitor_watermarks AS w SET ts = v.ts
FROM (SELECT t.ts, s.series
      FROM (SELECT key::timestamptz AS ts, value FROM json_each($1::json) OFFSET 0) AS t
      CROSS JOIN LATERAL json_array_elements_text(t.value) AS s (series)) AS v
WHERE w.series = v.series AND w.ts < v.ts;

-- name: add_watermarks
-- The series of $1 (as for move_watermarks) that have no watermark yet. One inserted
-- meanwhile (another replica) keeps the later time.
INSERT INTO monitor_watermarks (series, ts)
SELECT s.series, t.key::timestamptz
FROM json_each($1::json) AS t CROSS JOIN LATERAL json_array_elements_text(t.value) AS s (series)
WHERE NOT EXISTS (SELECT FROM monitor_watermarks AS w WHERE w.series = s.series)
ON CONFLICT (series) DO UPDATE SET ts = GREATEST(monitor_watermarks.ts, excluded.ts);

-- name: mark_handed_over
UPDATE monitor_findings SET handed_over_at = $2 WHERE id = ANY($1::bigint[])
    AND handed_over_at IS NULL;

-- name: not_handed_over
-- index: monitor_findings_not_handed_over
SELECT * FROM monitor_findings WHERE handed_over_at IS NULL ORDER BY ts, id;

-- name: latest_states
-- index: monitor_findings_rule_ts
-- Each rule's state on each series as its last finding left it: the restart's state.
SELECT DISTINCT ON (rule_id, series) rule_id, series, state, ts, since_ts, reference_value
FROM monitor_findings ORDER BY rule_id, series, ts DESC, id DESC;

-- name: watermarks
SELECT series, ts FROM monitor_watermarks;
