-- People who log in to the dashboard (issue 15). API tokens stay for machines.
-- A user belongs to one organisation and has one role; the password is kept only as an
-- argon2id hash (argon2-cffi's encoded form, which names its own parameters).
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    org           text NOT NULL,
    role          text NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);

-- A browser session: the cookie holds a secret whose SHA-256 is kept here, so a copy of
-- the table opens no session. The CSRF token is sent back by the page in a header.
CREATE TABLE user_sessions (
    id            bigserial PRIMARY KEY,
    secret_hash   bytea NOT NULL UNIQUE,
    csrf_token    text NOT NULL,
    user_id       bigint NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    client        text
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

-- Every login attempt, for the audit and for the rate limit (failures per username and
-- per client address within a window).
CREATE TABLE login_attempts (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    username  text NOT NULL,
    org       text,
    client    text NOT NULL,
    outcome   text NOT NULL,  -- ok, bad_password, unknown_user, disabled, rate_limited
    user_id   bigint REFERENCES users (id)
);
CREATE INDEX login_attempts_username ON login_attempts (lower(username), at);
CREATE INDEX login_attempts_client ON login_attempts (client, at);
