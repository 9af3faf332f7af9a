-- Series known to the service (synchronised from the cluster file) and their readings.
CREATE TABLE series (
    id          serial PRIMARY KEY,
    key         text NOT NULL UNIQUE,
    asset       text NOT NULL,
    quantity    text NOT NULL,
    unit        text NOT NULL,
    owner       text NOT NULL,
    range_min   double precision,
    range_max   double precision,
    derived     boolean NOT NULL DEFAULT false
);

-- One row per series and source timestamp; quality 0 good, 1 uncertain, 2 bad.
CREATE TABLE readings (
    series_id   integer NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL,
    quality     smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (series_id, ts)
);

-- Batches already answered, so a resend returns the same answer and stores nothing twice.
CREATE TABLE ingest_batches (
    gateway     text NOT NULL,
    batch_id    text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    result      jsonb NOT NULL,
    PRIMARY KEY (gateway, batch_id)
);

-- Rejected readings and conflicting duplicates, kept for inspection.
CREATE TABLE quarantine (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    gateway     text NOT NULL,
    batch_id    text NOT NULL,
    idx         integer NOT NULL,
    series      text,
    reason      text NOT NULL,
    detail      text NOT NULL,
    raw         jsonb
);
CREATE INDEX quarantine_received_at ON quarantine (received_at);
