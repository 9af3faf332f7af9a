-- Constraint monitor (services/monitor). Rules live in the cluster file; every version a
-- rule has had is kept here with who changed it and when, and findings name the version
-- that produced them.
CREATE TABLE monitor_rule_versions (
    rule_id     text NOT NULL,
    version     integer NOT NULL,
    kind        text NOT NULL,
    owner       text NOT NULL,
    spec        jsonb NOT NULL,
    previous    jsonb,                      -- the spec this version replaced
    changed_by  text NOT NULL,              -- organisation, or 'cluster-file'
    changed_at  timestamptz NOT NULL,
    reason      text,
    PRIMARY KEY (rule_id, version)
);

-- One row per change of state of a rule on a series. The unique key makes storing
-- idempotent; handed_over_at stays empty until the alert module has taken the finding.
CREATE TABLE monitor_findings (
    id              bigserial PRIMARY KEY,
    rule_id         text NOT NULL,
    rule_version    integer NOT NULL,
    kind            text NOT NULL,
    series          text NOT NULL,
    owner           text NOT NULL,
    severity        text NOT NULL,
    state           text NOT NULL,
    previous_state  text NOT NULL,
    ts              timestamptz NOT NULL,   -- plant time of the change
    since_ts        timestamptz NOT NULL,   -- plant time the condition began
    detected_at     timestamptz NOT NULL,
    late            boolean NOT NULL,
    value           double precision,
    slope_per_h     double precision,
    predicted_time_to_limit_s double precision,
    reference_value double precision,
    detail          text NOT NULL DEFAULT '',
    handed_over_at  timestamptz,
    UNIQUE (rule_id, rule_version, series, ts, state),
    FOREIGN KEY (rule_id, rule_version) REFERENCES monitor_rule_versions (rule_id, version)
);
CREATE INDEX monitor_findings_rule_ts ON monitor_findings (rule_id, series, ts DESC, id DESC);
CREATE INDEX monitor_findings_ts ON monitor_findings (ts DESC);
CREATE INDEX monitor_findings_not_handed_over ON monitor_findings (id)
    WHERE handed_over_at IS NULL;

-- How far (plant time) each series has been evaluated; written in the same transaction as
-- the findings, so a restart knows what to re-evaluate and what only to warm up from.
CREATE TABLE monitor_watermarks (
    series  text PRIMARY KEY,
    ts      timestamptz NOT NULL
);
