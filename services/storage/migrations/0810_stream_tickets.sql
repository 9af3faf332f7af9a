-- Stream tickets (issue 17): held in the database so a ticket issued by one replica opens
-- the stream on any other. The row is found by the ticket's SHA-256 and holds the
-- credential behind it sealed with a key derived from the ticket itself: the table alone
-- (a backup, a read-only role) reveals no bearer token or session secret.
CREATE TABLE stream_tickets (
    hash       bytea PRIMARY KEY,
    n          bigserial,               -- issue order, for the per-organisation bound
    org        text NOT NULL,
    sealed     bytea NOT NULL,          -- nonce || AES-GCM(credential)
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX stream_tickets_org ON stream_tickets (org, n);
