-- The alarm journal (issue 15): every transition of an organisation's alerts.

-- name: journal
-- Newest first, filtered by what the caller chose ($4–$6 NULL: any).
SELECT t.id, t.at, t.alert_id, t.event, t.from_state, t.to_state, t.actor, t.note,
       a.role, a.kind, a.rule_id, a.condition, a.severity, a.asset, a.cause_asset, a.exchange,
       a.title, a.detail
FROM alert_transitions t JOIN alerts a ON a.id = t.alert_id
WHERE a.org = $1 AND t.at >= $2 AND t.at < $3
  AND ($4::text IS NULL OR a.asset = $4 OR a.cause_asset = $4)
  AND ($5::text IS NULL OR a.exchange = $5)
  AND ($6::text IS NULL OR a.severity = $6)
ORDER BY t.at DESC, t.id DESC
LIMIT $7;

-- name: transitions
-- Oldest first, for the KPIs: every annunciation and clearing in the period.
SELECT t.at, t.alert_id, t.event, a.dedup_key, a.title, a.severity
FROM alert_transitions t JOIN alerts a ON a.id = t.alert_id
WHERE a.org = $1 AND t.at >= $2 AND t.at < $3
  AND t.event IN ('raised', 'returned', 'cleared')
ORDER BY t.at, t.id;

-- name: standing
-- Alerts active now that were raised more than a day before.
SELECT id, title, raised_at FROM alerts
WHERE org = $1 AND state IN ('active_unack', 'active_ack') AND raised_at <= $2
ORDER BY raised_at;
