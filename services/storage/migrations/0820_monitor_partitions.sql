-- The partitioned monitor (issue 17, item 2): series are divided into partitions, each
-- evaluated by one live replica at a time, by lease, on the database's clock. Used only
-- when HEATLINK_MONITOR_PARTITIONS > 0; a single replica (the default) leaves them empty.

-- Who is alive: each replica upserts its heartbeat (now(), the database's clock).
CREATE TABLE service_replicas (
    replica      text PRIMARY KEY,        -- random per process start
    heartbeat_at timestamptz NOT NULL
);

-- One row per partition, made by the first replica that starts partitioned.
CREATE TABLE monitor_partitions (
    partition   integer PRIMARY KEY,
    owner       text,                              -- a replica, or NULL
    lease_until timestamptz NOT NULL DEFAULT '-infinity',
    epoch       bigint NOT NULL DEFAULT 0,         -- fencing token: +1 at every change of owner
    -- Inbox rows of transactions below this id are applied (their findings and
    -- watermarks saved): written in the fenced transaction that saves them.
    inbox_done  xid8 NOT NULL DEFAULT '0'
);

-- Readings as the monitor needs them, one row per ingest batch, written in the ingest's
-- transaction: stored and queued for the monitor, or neither. The batch's readings are
-- the binary COPY body ingest built for `readings` (services/ingest/copy_binary.py): no
-- encoding again, and the monitor reads it with numpy. Read by transaction id, not by row
-- id: a row id is taken before its transaction commits, so a later id may commit first;
-- every transaction below a snapshot's xmin has ended.
CREATE TABLE monitor_inbox (
    id        bigserial PRIMARY KEY,
    xid       xid8 NOT NULL DEFAULT pg_current_xact_id(),
    readings  bytea NOT NULL
);
CREATE INDEX monitor_inbox_xid ON monitor_inbox (xid);
