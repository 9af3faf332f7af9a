-- The access domain's tables (migrations 0002, 0003): API tokens, stored only as hashes,
-- and the log of reads of one organisation's series by another. Loaded by name from
-- services/access/tokens.py and services/access/log.py.

-- name: create_token
INSERT INTO api_tokens (token_hash, name, org, role, scopes, gateway, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id;

-- name: revoke_token
UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL;

-- name: list_tokens
SELECT id, name, org, role, scopes, gateway, created_at, expires_at, revoked_at
FROM api_tokens WHERE $1::text IS NULL OR org = $1 ORDER BY id;

-- name: lookup_token
SELECT id, name, org, role, scopes, gateway FROM api_tokens
WHERE token_hash = $1 AND revoked_at IS NULL
  AND (expires_at IS NULL OR expires_at > $2);

-- name: log_access
INSERT INTO access_log (reader_org, owner_org, series, door) VALUES ($1, $2, $3, $4);

-- name: log_denied
INSERT INTO access_log (reader_org, owner_org, series, door, outcome, reason)
VALUES ($1, $2, $3, $4, 'denied', $5);

-- name: reads_of
-- Reads of an owner's series, newest first (GET /v1/access-log).
SELECT at, reader_org, series, door, outcome, reason FROM access_log
WHERE owner_org = $1 AND ($2::timestamptz IS NULL OR at >= $2)
ORDER BY at DESC, id DESC LIMIT $3;
