-- Accounting (issue 14): hourly figures per metering point kept once computed (dropped
-- again when late readings arrive), closed statements, closing requests, versioned
-- substitution rules, comments on disputed hours and the audit of every write.
CREATE TABLE accounting_point_hours (
    exchange      text NOT NULL,
    point         text NOT NULL,
    hour          timestamptz NOT NULL,
    value         double precision,
    coverage      double precision NOT NULL,
    mean_flow     double precision,
    mean_dtheta_k double precision,
    error_pct     double precision,
    flags         text[] NOT NULL DEFAULT '{}',
    computed_at   timestamptz NOT NULL,
    PRIMARY KEY (exchange, point, hour)
);

CREATE TABLE accounting_band_hours (
    exchange    text NOT NULL,
    hour        timestamptz NOT NULL,
    readings    integer NOT NULL,
    in_band     integer NOT NULL,
    computed_at timestamptz NOT NULL,
    PRIMARY KEY (exchange, hour)
);

-- A closed revision of a month, exactly as both parties fetch it.
CREATE TABLE accounting_statements (
    exchange       text NOT NULL,
    month          text NOT NULL,                -- YYYY-MM in the cluster's time zone
    revision       integer NOT NULL,
    body           text NOT NULL,                -- the JSON document, byte for byte
    content_sha256 text NOT NULL,
    csv            text NOT NULL,
    pdf            bytea NOT NULL,
    closed_at      timestamptz NOT NULL,
    closed_by      text[] NOT NULL,              -- the two parties, or {automatic}
    reason         text,                         -- why a revision after the first was made
    PRIMARY KEY (exchange, month, revision)
);

-- A month reopened for a new revision (absent: revision 1 is open until the first close).
CREATE TABLE accounting_reopened (
    exchange     text NOT NULL,
    month        text NOT NULL,
    revision     integer NOT NULL,               -- the revision being prepared
    reason       text NOT NULL,
    requested_by text NOT NULL,
    org          text NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (exchange, month, revision)
);

CREATE TABLE accounting_close_requests (
    exchange  text NOT NULL,
    month     text NOT NULL,
    revision  integer NOT NULL,
    org       text NOT NULL,
    actor     text NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (exchange, month, revision, org)
);

CREATE TABLE accounting_substitution_rules (
    exchange        text NOT NULL,
    version         integer NOT NULL,
    spec            jsonb NOT NULL,
    reason          text NOT NULL DEFAULT '',
    proposed_by_org text NOT NULL,               -- 'cluster-file' for the signed version 1
    proposed_by     text NOT NULL,
    proposed_at     timestamptz NOT NULL,
    agreed_by_org   text,
    agreed_by       text,
    agreed_at       timestamptz,
    PRIMARY KEY (exchange, version)
);

CREATE TABLE accounting_comments (
    id        bigserial PRIMARY KEY,
    exchange  text NOT NULL,
    hour      timestamptz NOT NULL,
    resource  text NOT NULL,
    org       text NOT NULL,
    author    text NOT NULL,
    at        timestamptz NOT NULL,
    text      text NOT NULL
);
CREATE INDEX accounting_comments_hour ON accounting_comments (exchange, hour);

CREATE TABLE accounting_audit (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    exchange  text NOT NULL,
    org       text NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX accounting_audit_exchange ON accounting_audit (exchange, at);
