-- The alerts domain's own statements on its tables (migrations 0200-0203), loaded by name
-- through alerts/queries.py. What other domains may know of these tables is in history.sql.
-- Each statement runs on the caller's connection, inside the caller's transaction.
-- A line "-- index: NAME" names the index the statement relies on; the schema test
-- (tests/services/test_schema_matches_code.py) checks it exists on a table the statement reads.
--
-- Sections: alerts and their transitions (store.py, service.py); findings already seen
-- (dedup.py, service.py); the outbox of deliveries (outbox.py); maintenance windows
-- (maintenance.py, silence.py).
--
-- One statement stays in Python: store.set_fields updates the columns its caller names.


-- ── alerts and their transitions ────────────────────────────────────────────────────────

-- name: lock_alert
SELECT * FROM alerts WHERE dedup_key = $1 AND org = $2 FOR UPDATE;

-- name: alert
SELECT * FROM alerts WHERE id = $1;

-- name: alert_for_update
SELECT * FROM alerts WHERE id = $1 FOR UPDATE;

-- name: alerts_of_key
-- The alerts one condition raised, one per organisation told (a maintenance window's notices).
SELECT id FROM alerts WHERE dedup_key = $1;

-- name: upsert_alert
-- $21: a new episode, which restarts escalation and may lower the severity again.
INSERT INTO alerts (dedup_key, org, role, kind, rule_id, series, asset, cause_asset,
                    exchange, condition, severity, state, title, detail,
                    time_to_impact_s, parent_id, suppressed_by, escalation_level,
                    escalate_at, raised_at, updated_at, since_ts)
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14::jsonb,$15,$16,$17,0,$18,$19,
        $19,$20)
ON CONFLICT (dedup_key, org) DO UPDATE SET
    role = EXCLUDED.role, kind = EXCLUDED.kind, condition = EXCLUDED.condition,
    severity = CASE WHEN $21 THEN EXCLUDED.severity
                    WHEN alerts.severity = 'alarm' THEN 'alarm'
                    ELSE EXCLUDED.severity END,
    state = EXCLUDED.state, detail = EXCLUDED.detail,
    -- A clearing keeps the title that described the condition.
    title = CASE WHEN EXCLUDED.state IN ('cleared_unack', 'normal')
                 THEN alerts.title ELSE EXCLUDED.title END,
    time_to_impact_s = COALESCE(EXCLUDED.time_to_impact_s, alerts.time_to_impact_s),
    parent_id = EXCLUDED.parent_id, suppressed_by = EXCLUDED.suppressed_by,
    escalation_level = CASE WHEN $21 THEN 0 ELSE alerts.escalation_level END,
    escalate_at = CASE WHEN $21 THEN EXCLUDED.escalate_at
                       ELSE alerts.escalate_at END,
    raised_at = CASE WHEN $21 THEN EXCLUDED.raised_at ELSE alerts.raised_at END,
    updated_at = EXCLUDED.updated_at, since_ts = EXCLUDED.since_ts
RETURNING *;

-- name: add_transition
INSERT INTO alert_transitions (alert_id, at, actor, event, from_state, to_state, note)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id;

-- name: transitions
-- index: alert_transitions_alert
SELECT * FROM alert_transitions WHERE alert_id = $1 ORDER BY id;

-- name: list_alerts
-- index: alerts_org_updated
SELECT * FROM alerts
WHERE ($1::text IS NULL OR org = $1)
  AND (NOT $2 OR state <> 'normal')
ORDER BY updated_at DESC, id DESC LIMIT $3;

-- name: due_escalations
-- index: alerts_escalate_at
SELECT * FROM alerts WHERE escalate_at <= $1 ORDER BY escalate_at
FOR UPDATE SKIP LOCKED;

-- name: due_unshelves
-- index: alerts_shelved_until
SELECT * FROM alerts WHERE shelved_until <= $1 ORDER BY shelved_until
FOR UPDATE SKIP LOCKED;

-- name: active_root
-- The newest active alert of an organisation caused upstream and affecting the asset, at the
-- top of its episode (not itself grouped under another).
SELECT * FROM alerts WHERE org = $1 AND asset = $2 AND role = 'recipient'
  AND cause_asset IS NOT NULL AND kind <> 'maintenance' AND parent_id IS NULL
  AND state IN ('active_unack', 'active_ack')
ORDER BY raised_at DESC LIMIT 1;

-- name: settling_root
-- The newest alert of an organisation caused upstream and affecting the asset, at the top of
-- its episode, that cleared at or after $3: the asset is still settling after it.
-- index: alert_transitions_alert
SELECT a.* FROM alerts a WHERE a.org = $1 AND a.asset = $2 AND a.role = 'recipient'
  AND a.cause_asset IS NOT NULL AND a.kind <> 'maintenance' AND a.parent_id IS NULL
  AND a.state IN ('cleared_unack', 'normal')
  AND EXISTS (SELECT 1 FROM alert_transitions t WHERE t.alert_id = a.id
              AND t.event = 'cleared' AND t.at >= $3)
ORDER BY a.updated_at DESC, a.id DESC LIMIT 1;

-- name: active_disruption
SELECT * FROM alerts WHERE org = $1 AND exchange = $2 AND kind = 'supply_disruption'
  AND dedup_key <> $3 AND parent_id IS NULL
  AND state IN ('active_unack', 'active_ack')
ORDER BY raised_at DESC LIMIT 1;

-- name: active_tops
-- Active alerts at the top of their episode on the exchange or the asset; not maintenance
-- notices nor restart advice.
SELECT * FROM alerts WHERE org = $1 AND parent_id IS NULL AND dedup_key <> $4
  AND ((exchange IS NOT NULL AND exchange = $2)
       OR (asset IS NOT NULL AND asset = $3))
  AND kind NOT IN ('maintenance', 'restart_ramp')
  AND state IN ('active_unack', 'active_ack')
ORDER BY raised_at DESC, id DESC;

-- name: last_transition
-- index: alert_transitions_alert
SELECT event, at FROM alert_transitions WHERE alert_id = $1
ORDER BY id DESC LIMIT 1;

-- name: was_told
-- A delivery was queued for the alert, or it took over an episode another alert paged for.
-- index: alert_deliveries_alert
-- index: alert_transitions_alert
SELECT EXISTS (SELECT 1 FROM alert_deliveries WHERE alert_id = $1)
    OR EXISTS (SELECT 1 FROM alert_transitions
               WHERE alert_id = $1 AND event = 'took_over');

-- name: unacknowledged_under
SELECT * FROM alerts
WHERE parent_id = $1 AND state IN ('active_unack', 'cleared_unack')
ORDER BY id FOR UPDATE;

-- name: held_by
SELECT * FROM alerts
WHERE (parent_id = $1 OR suppressed_by = $2)
  AND state IN ('active_unack', 'active_ack')
ORDER BY id FOR UPDATE;

-- name: escalated_for_already
-- Whether the root already paged for this news ($2, in the note) in its current episode,
-- which began at its last 'raised' or 'returned'.
-- index: alert_transitions_alert
SELECT EXISTS (SELECT 1 FROM alert_transitions t WHERE t.alert_id = $1
  AND t.event = 'symptom_escalated' AND t.note LIKE '%' || $2 || '%'
  AND t.at >= (SELECT max(at) FROM alert_transitions
               WHERE alert_id = $1 AND event IN ('raised', 'returned')));


-- ── findings already seen ───────────────────────────────────────────────────────────────

-- name: first_seen
-- true only the first time: the monitor may hand a finding over twice after a crash.
INSERT INTO alert_findings_seen (finding_key, seen_at) VALUES ($1, $2)
ON CONFLICT DO NOTHING RETURNING true;

-- name: forget_seen
DELETE FROM alert_findings_seen WHERE seen_at < $1;


-- ── the outbox of deliveries ────────────────────────────────────────────────────────────

-- name: pending_group_due
-- When the group already waiting for this address is due, so that a new delivery joins it.
-- index: alert_deliveries_pending_address
SELECT max(next_attempt_at) FROM alert_deliveries
WHERE channel = $1 AND address = $2 AND status = 'pending' AND attempts = 0
  AND next_attempt_at > $3;

-- name: enqueue_delivery
-- Safe to repeat: the idempotency key is (alert, transition, channel, address).
INSERT INTO alert_deliveries (alert_id, transition_id, org, contact, channel,
    address, secret_env, idempotency_key, payload, created_at, next_attempt_at,
    give_up_at)
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::jsonb,$10,$11,$12)
ON CONFLICT (idempotency_key) DO NOTHING;

-- name: wake_workers
-- Sent on commit: the workers LISTEN on the channel ($1).
SELECT pg_notify($1, '');

-- name: last_send
-- index: alert_sends_recipient
SELECT max(at) FROM alert_sends WHERE channel = $1 AND address = $2;

-- name: claim_deliveries
-- Due deliveries claimed until $2 (the lease): a worker that dies mid-send leaves them due
-- again when the lease ends.
-- index: alert_deliveries_due
WITH due AS (
    SELECT id FROM alert_deliveries
    WHERE status = 'pending' AND next_attempt_at <= $1
    ORDER BY next_attempt_at, id LIMIT $3
    FOR UPDATE SKIP LOCKED)
UPDATE alert_deliveries d
   SET next_attempt_at = $2, attempts = d.attempts + 1
  FROM due WHERE d.id = due.id
RETURNING d.*;

-- name: start_attempts
-- The attempt is on record before it starts: a crash leaves it 'sending', unfinished.
INSERT INTO alert_delivery_attempts (delivery_id, at, outcome, group_key)
SELECT unnest($1::bigint[]), $2, 'sending', unnest($3::text[])
RETURNING id, delivery_id;

-- name: set_group
UPDATE alert_deliveries SET group_key = $2 WHERE id = ANY($1::bigint[]);

-- name: sends_in_hour
-- index: alert_sends_recipient
SELECT at FROM alert_sends WHERE channel = $1 AND address = $2
  AND at > $3::timestamptz - interval '1 hour' AND at <= $3;

-- name: delivered
UPDATE alert_deliveries SET status = 'delivered', delivered_at = $2, last_error = NULL
WHERE id = ANY($1::bigint[]);

-- name: record_send
INSERT INTO alert_sends (channel, address, at, items) VALUES ($1, $2, $3, $4);

-- name: retry_at
UPDATE alert_deliveries SET next_attempt_at = $2, last_error = $3
WHERE id = ANY($1::bigint[]);

-- name: failed
UPDATE alert_deliveries SET status = 'failed', last_error = $2
WHERE id = ANY($1::bigint[]);

-- name: hold
-- Held for flood control: not sent, so not counted as tried.
UPDATE alert_deliveries SET next_attempt_at = $2, attempts = attempts - 1
WHERE id = ANY($1::bigint[]);

-- name: finish_attempts
UPDATE alert_delivery_attempts SET outcome = $2, group_key = $3, detail = $4,
    finished_at = $5 WHERE id = ANY($1::bigint[]);


-- ── maintenance windows ─────────────────────────────────────────────────────────────────

-- name: announce_window
INSERT INTO maintenance_windows (exchange, org, announced_by, starts_at, ends_at,
    reason, announced_at, short_notice, remind_at)
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id;

-- name: due_reminders
SELECT id FROM maintenance_windows WHERE remind_at <= $1 AND reminded_at IS NULL
  AND cancelled_at IS NULL FOR UPDATE SKIP LOCKED;

-- name: reminded
UPDATE maintenance_windows SET reminded_at = $2 WHERE id = $1;

-- name: ended_windows
-- index: maintenance_windows_open
SELECT id FROM maintenance_windows WHERE ends_at <= $1 AND closed_at IS NULL
FOR UPDATE SKIP LOCKED;

-- name: closed
UPDATE maintenance_windows SET closed_at = $2 WHERE id = $1;

-- name: list_windows
-- index: maintenance_windows_exchange
SELECT * FROM maintenance_windows WHERE exchange = ANY($1::text[])
ORDER BY starts_at DESC LIMIT 200;

-- name: window_covering
-- The announced window covering $2 on one of the exchanges, widened by the grace $3: trips
-- seen shortly before or after a window still belong to it.
-- index: maintenance_windows_exchange
SELECT id FROM maintenance_windows
WHERE exchange = ANY($1::text[]) AND cancelled_at IS NULL
  AND starts_at - $3::interval <= $2 AND ends_at + $3::interval >= $2
ORDER BY starts_at LIMIT 1;
