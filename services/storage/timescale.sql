-- What timescale.py runs to learn what the database can do with time series and to switch
-- it on: TimescaleDB's own functions, which differ between its builds (community, Apache,
-- none at all), so tests/services/test_migrations.py runs them against the build there is
-- rather than the schema test preparing them. Loaded by name through timescale.py.

-- ── what there is ───────────────────────────────────────────────────────────────────────

-- name: installed_version
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb';

-- name: license
SELECT current_setting('timescaledb.license', true);

-- name: readings_is_hypertable
SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
               WHERE hypertable_name = 'readings');

-- name: available
SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb';


-- ── any build of TimescaleDB ────────────────────────────────────────────────────────────

-- name: create_extension
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- name: create_hypertable
-- $1: the chunk interval.
SELECT create_hypertable('readings', 'ts', chunk_time_interval => $1::interval,
                         if_not_exists => true, migrate_data => true);


-- ── the community build only (timescaledb.license = timescale) ──────────────────────────

-- name: compress_readings
ALTER TABLE readings SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'series_id', timescaledb.compress_orderby = 'ts');

-- name: compression_policy
SELECT add_compression_policy('readings', INTERVAL '7 days', if_not_exists => true);

-- name: retention_policy
-- $1: how long readings are kept.
SELECT add_retention_policy('readings', $1::interval, if_not_exists => true);

-- name: create_readings_1m
CREATE MATERIALIZED VIEW IF NOT EXISTS readings_1m WITH (timescaledb.continuous) AS
SELECT series_id, time_bucket(INTERVAL '1 minute', ts) AS bucket,
       avg(value) AS avg, min(value) AS min, max(value) AS max, last(value, ts) AS last
FROM readings GROUP BY series_id, bucket WITH NO DATA;

-- name: refresh_readings_1m
SELECT add_continuous_aggregate_policy('readings_1m', start_offset => NULL,
    end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute',
    if_not_exists => true);

-- name: create_readings_1h
CREATE MATERIALIZED VIEW IF NOT EXISTS readings_1h WITH (timescaledb.continuous) AS
SELECT series_id, time_bucket(INTERVAL '1 hour', ts) AS bucket,
       avg(value) AS avg, min(value) AS min, max(value) AS max, last(value, ts) AS last
FROM readings GROUP BY series_id, bucket WITH NO DATA;

-- name: refresh_readings_1h
SELECT add_continuous_aggregate_policy('readings_1h', start_offset => NULL,
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour',
    if_not_exists => true);


-- ── expiring old readings where no retention policy does it ─────────────────────────────

-- name: drop_chunks
-- A hypertable without the community build's policy: whole chunks older than $1 go.
SELECT drop_chunks('readings', older_than => $1::timestamptz);

-- name: delete_readings
-- Plain PostgreSQL: row by row.
DELETE FROM readings WHERE ts < $1;
