-- The live domain's statements (migration 0810): stream tickets (tickets.py) and the
-- notifications that share live events with the other replicas (fanout.py). Loaded by name
-- through services/live/queries.py.
-- A line "-- index: NAME" names the index the statement relies on (checked by
-- tests/services/test_schema_matches_code.py).

-- name: issue_ticket
INSERT INTO stream_tickets (hash, org, sealed, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5);

-- name: bound_tickets
-- Bounded per organisation: its expired tickets ($2: now), then its own oldest beyond the
-- bound ($3), go; the index keeps this to the organisation's rows.
-- index: stream_tickets_org
DELETE FROM stream_tickets WHERE org = $1 AND (expires_at <= $2 OR hash IN (
    SELECT hash FROM stream_tickets WHERE org = $1
    ORDER BY n DESC OFFSET $3));

-- name: redeem_ticket
-- One DELETE … RETURNING: of two replicas given the same ticket at once, exactly one gets it.
DELETE FROM stream_tickets WHERE hash = $1 RETURNING org, sealed, expires_at;

-- name: count_tickets
-- index: stream_tickets_org
SELECT count(*) FROM stream_tickets WHERE org = $1;

-- name: share_event
-- One live event ($2, JSON) to the other replicas' hubs, which LISTEN on the channel ($1).
SELECT pg_notify($1, $2);

-- name: others_listening
-- Whether another replica's fan-out listener ($1: its application_name) is connected to
-- this database, other than this replica's own ($2: its backend pid; 0 when it has none).
SELECT EXISTS (SELECT 1 FROM pg_stat_activity
               WHERE datname = current_database() AND application_name = $1
                 AND pid <> $2);
