-- Control (issue 8): ramped setpoint changes, the commands that carry their steps, the
-- audit log both companies of an exchange read, and protective-action requests.
CREATE TABLE control_ramps (
    id              bigserial PRIMARY KEY,
    point           text NOT NULL,
    owner           text NOT NULL,
    requested_by    text NOT NULL,            -- organisation / token name
    start_value     double precision,
    target          double precision NOT NULL,
    rate_per_h      double precision NOT NULL,  -- the planned cruise rate
    status          text NOT NULL,            -- running | held | completed | cancelled
    reasons         jsonb NOT NULL DEFAULT '[]',
    confirmed_value double precision,
    step            integer NOT NULL DEFAULT 0,
    steps           integer NOT NULL,
    orgs            text[] NOT NULL,          -- who may read it: owner and exchange partners
    requested_at    timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX control_ramps_point ON control_ramps (point, requested_at DESC);

CREATE TABLE control_commands (
    id             text PRIMARY KEY,
    ramp_id        bigint NOT NULL REFERENCES control_ramps (id),
    point          text NOT NULL,
    gateway        text NOT NULL,
    value          double precision NOT NULL,
    issued_at      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    status         text NOT NULL,             -- sent | applied | mismatch | refused | rejected | expired | error
    gateway_status text,                      -- what the gateway answered, also when late
    readback       double precision,
    answered_at    timestamptz,
    detail         text NOT NULL DEFAULT ''
);
CREATE INDEX control_commands_ramp ON control_commands (ramp_id, issued_at);

CREATE TABLE control_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    kind       text NOT NULL,
    actor      text NOT NULL,
    point      text,
    ramp_id    bigint,
    request_id bigint,
    command_id text,
    orgs       text[] NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX control_audit_orgs ON control_audit USING gin (orgs);

CREATE TABLE control_requests (
    id           bigserial PRIMARY KEY,
    exchange     text NOT NULL,
    from_org     text NOT NULL,
    to_org       text NOT NULL,
    action       text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    status       text NOT NULL,               -- open | accepted | declined
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL,
    answered_by  text,
    answered_at  timestamptz,
    answer_note  text NOT NULL DEFAULT ''
);
