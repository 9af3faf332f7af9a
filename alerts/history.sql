-- What the alerts domain tells others (alerts/history.py): what happened on one exchange in
-- a period, for the settlement statement (issue 14); the alerts standing now and the
-- maintenance windows in force, for the dashboard; active alarms, for control's interlocks;
-- the deliveries, for the alerts' API (services/alerts/router.py).

-- name: maintenance_windows
-- index: maintenance_windows_exchange
SELECT id, org, announced_by, starts_at, ends_at, reason, announced_at, short_notice
FROM maintenance_windows
WHERE exchange = $1 AND cancelled_at IS NULL AND starts_at < $3 AND ends_at > $2
ORDER BY starts_at, id;

-- name: alert_transitions
-- Every alert on the exchange raised before the period ends, with the transitions that
-- start or end its active time (an alert last changed before the period has nothing in it);
-- the caller pairs the transitions into intervals.
SELECT a.id, a.dedup_key, a.org, a.kind, a.severity, a.title, a.raised_at,
       t.at, t.to_state
FROM alerts a JOIN alert_transitions t ON t.alert_id = a.id
WHERE a.exchange = $1 AND a.raised_at < $3 AND a.updated_at >= $2 AND a.kind <> 'maintenance'
ORDER BY a.id, t.id;

-- name: active_alarm_rules
-- Which of these rules have an alarm standing now (control's interlocks hold a ramp on it).
SELECT DISTINCT rule_id FROM alerts WHERE rule_id = ANY($1::text[])
  AND severity = 'alarm' AND state IN ('active_unack', 'active_ack');

-- name: standing_alerts
SELECT id, exchange, asset, severity, title FROM alerts
WHERE org = $1 AND state IN ('active_unack', 'active_ack')
  AND NOT out_of_service AND (shelved_until IS NULL OR shelved_until <= $2);

-- name: windows_in_force
-- index: maintenance_windows_exchange
SELECT exchange, ends_at, reason FROM maintenance_windows
WHERE exchange = ANY($1::text[]) AND cancelled_at IS NULL
  AND starts_at <= $2 AND ends_at > $2;

-- name: deliveries_to
-- index: alert_deliveries_org_status
SELECT id, alert_id, channel, contact, address, idempotency_key, status,
       attempts, created_at, next_attempt_at, delivered_at, last_error
FROM alert_deliveries WHERE org = $1 AND status = $2
ORDER BY created_at DESC, id DESC LIMIT $3;

-- name: deliveries_of
-- index: alert_deliveries_alert
-- index: alert_delivery_attempts_delivery
SELECT d.id, d.channel, d.contact, d.idempotency_key, d.group_key, d.status,
       d.attempts, d.next_attempt_at, d.delivered_at, d.last_error,
       coalesce(json_agg(json_build_object('at', a.at, 'outcome', a.outcome,
                'detail', a.detail) ORDER BY a.id)
                FILTER (WHERE a.id IS NOT NULL), '[]') AS history
FROM alert_deliveries d LEFT JOIN alert_delivery_attempts a ON a.delivery_id = d.id
WHERE d.alert_id = $1 GROUP BY d.id ORDER BY d.id;

-- name: supplies_lost
SELECT exchange, min(coalesce(since_ts, raised_at)) AS since FROM alerts
WHERE org = $1 AND role = 'recipient' AND exchange IS NOT NULL
  AND cause_asset IS NOT NULL AND condition = ANY($2::text[])
  AND state IN ('active_unack', 'active_ack')
GROUP BY exchange;
