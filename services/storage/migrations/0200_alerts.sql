-- Alerts: one row per condition and organisation (the deduplication key), with its lifecycle
-- (ISA-18.2 states), shelving, out-of-service and suppression by a maintenance window.
CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    dedup_key        text NOT NULL,
    org              text NOT NULL,
    role             text NOT NULL,          -- owner | recipient | supplier
    kind             text NOT NULL,          -- rule kind, 'maintenance', 'intake_closed'
    rule_id          text,
    series           text,
    asset            text,                   -- the organisation's own affected asset
    cause_asset      text,                   -- the upstream cause
    exchange         text,
    condition        text NOT NULL,          -- the finding's state, e.g. 'disrupted'
    severity         text NOT NULL,          -- warning | alarm
    state            text NOT NULL,          -- active_unack | active_ack | cleared_unack | normal
    title            text NOT NULL,
    detail           jsonb NOT NULL DEFAULT '{}',
    time_to_impact_s double precision,
    parent_id        bigint REFERENCES alerts (id),
    shelved_until    timestamptz,
    out_of_service   boolean NOT NULL DEFAULT false,
    suppressed_by    bigint,                 -- maintenance window id
    escalation_level integer NOT NULL DEFAULT 0,
    escalate_at      timestamptz,
    raised_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    since_ts         timestamptz,
    UNIQUE (dedup_key, org)
);
CREATE INDEX alerts_org_updated ON alerts (org, updated_at DESC);
CREATE INDEX alerts_escalate_at ON alerts (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE INDEX alerts_shelved_until ON alerts (shelved_until) WHERE shelved_until IS NOT NULL;

-- Every change of an alert, with who and when.
CREATE TABLE alert_transitions (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    event       text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX alert_transitions_alert ON alert_transitions (alert_id, id);

-- Findings already turned into alerts: the monitor may hand one over twice after a crash.
CREATE TABLE alert_findings_seen (
    finding_key text PRIMARY KEY,
    seen_at     timestamptz NOT NULL
);

-- The transactional outbox: written with the transition it announces.
CREATE TABLE alert_deliveries (
    id               bigserial PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES alerts (id),
    transition_id    bigint NOT NULL REFERENCES alert_transitions (id),
    org              text NOT NULL,
    contact          text NOT NULL,
    channel          text NOT NULL,
    address          text NOT NULL,
    secret_env       text,
    idempotency_key  text NOT NULL UNIQUE,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending',   -- pending | delivered | failed
    group_key        text,
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    give_up_at       timestamptz NOT NULL,
    delivered_at     timestamptz,
    last_error       text
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id);

-- Every attempt, whatever its outcome.
CREATE TABLE alert_delivery_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES alert_deliveries (id),
    at           timestamptz NOT NULL,
    outcome      text NOT NULL,                 -- delivered | retry | failed | held
    group_key    text,
    detail       text NOT NULL DEFAULT ''
);
CREATE INDEX alert_delivery_attempts_delivery ON alert_delivery_attempts (delivery_id, id);

-- Messages sent to one channel address, for the per-recipient rate limit.
CREATE TABLE alert_sends (
    id       bigserial PRIMARY KEY,
    channel  text NOT NULL,
    address  text NOT NULL,
    at       timestamptz NOT NULL,
    items    integer NOT NULL
);
CREATE INDEX alert_sends_recipient ON alert_sends (channel, address, at);

-- Planned outages announced by a supplier.
CREATE TABLE maintenance_windows (
    id            bigserial PRIMARY KEY,
    exchange      text NOT NULL,
    org           text NOT NULL,
    announced_by  text NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    reason        text NOT NULL DEFAULT '',
    announced_at  timestamptz NOT NULL,
    short_notice  boolean NOT NULL,
    remind_at     timestamptz,
    reminded_at   timestamptz,
    cancelled_at  timestamptz
);
CREATE INDEX maintenance_windows_exchange ON maintenance_windows (exchange, starts_at);
