-- The access domain's tables (migrations 0002, 0003, 0500): API tokens, stored only as
-- hashes; the log of reads of one organisation's series by another; the people who log in,
-- their browser sessions and their login attempts. Loaded by name (services/access/queries.py)
-- from tokens.py, log.py, users.py, sessions.py and attempts.py.
-- A line "-- index: NAME" names the index the statement relies on (checked by
-- tests/services/test_schema_matches_code.py).

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
-- index: access_log_owner
SELECT at, reader_org, series, door, outcome, reason FROM access_log
WHERE owner_org = $1 AND ($2::timestamptz IS NULL OR at >= $2)
ORDER BY at DESC, id DESC LIMIT $3;


-- ── people, their sessions and their login attempts (users.py, sessions.py, attempts.py) ──

-- name: create_user
INSERT INTO users (username, org, role, display_name, password_hash, created_at,
                   password_changed_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)
RETURNING id, username, org, role, display_name, disabled_at, created_at;

-- name: list_users
SELECT id, username, org, role, display_name, disabled_at, created_at
FROM users WHERE $1::text IS NULL OR org = $1 ORDER BY id;

-- name: disable_user
UPDATE users SET disabled_at = $2 WHERE username = $1 AND disabled_at IS NULL RETURNING id;

-- name: set_password
UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE username = $1 RETURNING id;

-- name: user_to_check
SELECT id, username, org, role, display_name, disabled_at, created_at, password_hash
FROM users WHERE username = $1;

-- name: rehash_password
-- The same password, hashed with the library's newer parameters.
UPDATE users SET password_hash = $2 WHERE id = $1;

-- name: end_sessions_of_user
-- A user disabled or given a new password: every session ends (a thief's too).
-- index: user_sessions_user
UPDATE user_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL;

-- name: open_session
INSERT INTO user_sessions (secret_hash, csrf_token, user_id, created_at, last_seen_at,
                           expires_at, client)
VALUES ($1, $2, $3, $4, $4, $5, $6) RETURNING id;

-- name: close_session
UPDATE user_sessions SET revoked_at = $2 WHERE secret_hash = $1 AND revoked_at IS NULL;

-- name: live_session
-- The session behind a cookie's secret ($1, its SHA-256), if neither it nor its user ended,
-- it has not expired ($2: now) and it was seen after $3 (now less the idle time).
SELECT s.id, s.csrf_token, s.expires_at, s.last_seen_at, u.id AS user_id,
       u.username, u.org, u.role
FROM user_sessions s JOIN users u ON u.id = s.user_id
WHERE s.secret_hash = $1 AND s.revoked_at IS NULL AND u.disabled_at IS NULL
  AND s.expires_at > $2 AND s.last_seen_at > $3;

-- name: touch_session
UPDATE user_sessions SET last_seen_at = $2 WHERE id = $1;

-- name: lock_login
-- Attempts at one username queue here, so parallel guesses cannot slip past the count.
SELECT pg_advisory_xact_lock(hashtext('heatlink login ' || lower($1)));

-- name: recent_failures
-- Failures ($4: the outcomes that count) since $3 by this username ($1) and by this client
-- address ($2), each with the oldest in the window.
-- index: login_attempts_username
-- index: login_attempts_client
SELECT count(*) FILTER (WHERE lower(username) = lower($1)) AS by_name,
       min(at) FILTER (WHERE lower(username) = lower($1)) AS name_first,
       count(*) FILTER (WHERE client = $2) AS by_client,
       min(at) FILTER (WHERE client = $2) AS client_first
FROM login_attempts WHERE at > $3 AND outcome = ANY($4)
  AND (lower(username) = lower($1) OR client = $2);

-- name: record_attempt
-- A refused attempt names no user yet: the row still goes to the user's org, if any.
INSERT INTO login_attempts (at, username, org, client, outcome, user_id)
SELECT $1, $2, coalesce($3, u.org), $4, $5, coalesce($6, u.id)
FROM (SELECT 1) one LEFT JOIN users u ON u.username = $2;

-- name: recent_attempts
SELECT at, username, client, outcome FROM login_attempts WHERE org = $1
ORDER BY at DESC, id DESC LIMIT $2;
