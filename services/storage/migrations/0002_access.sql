-- API tokens, stored as SHA-256 hashes; a token belongs to exactly one organisation.
CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    name        text NOT NULL,
    org         text NOT NULL,
    role        text NOT NULL,
    scopes      text[] NOT NULL DEFAULT '{}',
    gateway     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);

-- Reads of one organisation's data by another, for the data owner to see.
CREATE TABLE access_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    reader_org  text NOT NULL,
    owner_org   text NOT NULL,
    series      text NOT NULL,
    door        text NOT NULL
);
CREATE INDEX access_log_owner ON access_log (owner_org, at);
