-- The storage layer's own statements: the migrations' bookkeeping (migrate.py) and the
-- probe that tells an outage from a recovery (health.py). Loaded by name through
-- services/storage/queries.py. What TimescaleDB switches on is in timescale.sql.

-- name: probe
SELECT 1;

-- name: lock_migrations
-- A session advisory lock ($1: one id for every heatlink migrator): concurrent runners
-- queue up instead of racing.
SELECT pg_advisory_lock($1);

-- name: unlock_migrations
SELECT pg_advisory_unlock($1);

-- name: migrations_table_exists
SELECT to_regclass('schema_migrations') IS NOT NULL;

-- name: create_migrations_table
-- The one table no migration creates: it records which migrations ran.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());

-- name: applied_versions
SELECT version FROM schema_migrations;

-- name: record_migration
INSERT INTO schema_migrations (version, name) VALUES ($1, $2);
