-- The readings domain's reads of `readings` (ingest writes them): the API's queries, the
-- CSV export's pages, what control asks before it moves a plant, and the time-bucketed
-- figures for settlement (issue 14; accounting asks through services/readings/store.py).
-- {bucket} is time_bucket on TimescaleDB and date_bin on plain PostgreSQL (same arguments:
-- width, ts, origin); every bucket is anchored at the range start, which the callers of
-- the settlement figures keep on a whole hour.
-- Readings of bad quality (2) never count; good (0) and uncertain (1) do.

-- name: raw_readings
SELECT r.ts, r.value, r.quality FROM readings r JOIN series s ON s.id = r.series_id
WHERE s.key = $1 AND r.ts >= $2 AND r.ts < $3 ORDER BY r.ts LIMIT $4;

-- name: bucketed_readings
-- {agg} is the aggregate the caller chose (avg, min, max, last), from a fixed list.
SELECT {bucket}($4::interval, r.ts, $2::timestamptz) AS ts, {agg} AS value
FROM readings r JOIN series s ON s.id = r.series_id
WHERE s.key = $1 AND r.ts >= $2::timestamptz AND r.ts < $3::timestamptz
GROUP BY 1 ORDER BY 1;

-- name: latest
SELECT s.key, s.unit, r.ts, r.value, r.quality FROM series s
LEFT JOIN LATERAL (SELECT ts, value, quality FROM readings
                   WHERE series_id = s.id ORDER BY ts DESC LIMIT 1) r ON true
WHERE s.key = ANY($1::text[]) ORDER BY s.key;

-- name: latest_values
SELECT s.key, r.value FROM series s
CROSS JOIN LATERAL (SELECT value FROM readings WHERE series_id = s.id
                    ORDER BY ts DESC LIMIT 1) r
WHERE s.key = ANY($1::text[]);

-- name: readings_page
-- One page of a CSV export: keyset pagination on (ts, key) after ($4, $5).
SELECT s.key, r.ts, r.value, r.quality FROM readings r
JOIN series s ON s.id = r.series_id
WHERE s.key = ANY($1::text[]) AND r.ts >= $2 AND r.ts < $3
  AND ($4::timestamptz IS NULL OR (r.ts, s.key) > ($4::timestamptz, $5::text))
ORDER BY r.ts, s.key LIMIT $6;

-- name: hourly_heat
-- Heat from a flow and a temperature pair: the three series are averaged over steps of
-- $6, then P = ρ·V̇·cp·ΔT per step with ρ and cp at the step's mean temperature from the
-- piecewise-linear water table passed in $7..$14 (heatlink.water.property_segments).
-- Only steps where all three series have readings count; the caller reads coverage from
-- the number of steps.
WITH ids AS (
    SELECT (SELECT id FROM series WHERE key = $1) AS flow_id,
           (SELECT id FROM series WHERE key = $2) AS in_id,
           (SELECT id FROM series WHERE key = $3) AS out_id
), steps AS (
    SELECT {bucket}($6::interval, r.ts, $4::timestamptz) AS step_at,
           avg(r.value) FILTER (WHERE r.series_id = ids.flow_id) AS flow,
           avg(r.value) FILTER (WHERE r.series_id = ids.in_id) AS temp_in,
           avg(r.value) FILTER (WHERE r.series_id = ids.out_id) AS temp_out
    FROM readings r, ids
    WHERE r.series_id IN (ids.flow_id, ids.in_id, ids.out_id)
      AND r.ts >= $4::timestamptz AND r.ts < $5::timestamptz AND r.quality < 2
    GROUP BY 1
), water AS (
    SELECT * FROM unnest($7::float8[], $8::float8[], $9::float8[], $10::float8[],
                         $11::float8[], $12::float8[], $13::float8[], $14::float8[])
        AS w (lo, hi, cp_t0, cp_v0, cp_slope, rho_t0, rho_v0, rho_slope)
), power AS (
    SELECT s.step_at, s.flow, s.temp_in - s.temp_out AS dtheta,
           s.flow / 3600.0
             * (w.rho_v0 + w.rho_slope * ((s.temp_in + s.temp_out) / 2.0 - w.rho_t0))
             * (w.cp_v0 + w.cp_slope * ((s.temp_in + s.temp_out) / 2.0 - w.cp_t0))
             * (s.temp_in - s.temp_out) / 1000.0 AS power_kw
    FROM steps s
    JOIN water w ON (s.temp_in + s.temp_out) / 2.0 >= w.lo
                AND (s.temp_in + s.temp_out) / 2.0 < w.hi
    WHERE s.flow IS NOT NULL AND s.temp_in IS NOT NULL AND s.temp_out IS NOT NULL
)
SELECT {bucket}('1 hour'::interval, step_at, $4::timestamptz) AS hour,
       count(*) AS steps, sum(power_kw) AS power_sum_kw,
       avg(flow) AS mean_flow, avg(dtheta) AS mean_dtheta
FROM power GROUP BY 1 ORDER BY 1;

-- name: hourly_flow
-- A volume (or mass) from its flow: the flow averaged over steps of $4, then per hour.
WITH steps AS (
    SELECT {bucket}($4::interval, ts, $2::timestamptz) AS step_at, avg(value) AS flow
    FROM readings
    WHERE series_id = (SELECT id FROM series WHERE key = $1)
      AND ts >= $2::timestamptz AND ts < $3::timestamptz AND quality < 2
    GROUP BY 1
)
SELECT {bucket}('1 hour'::interval, step_at, $2::timestamptz) AS hour,
       count(*) AS steps, avg(flow) AS mean_flow
FROM steps GROUP BY 1 ORDER BY 1;

-- name: register_steps
-- A cumulative register per hour. Steps between consecutive readings that stay inside one
-- hour, rise and are no longer than $4 are summed here; every other step (one that falls:
-- a rollover or a reset; one that crosses an hour boundary; one longer than $4) comes back
-- whole, with its two ends, for the caller to split by time and classify. The reading
-- before the range and the first after it bring the steps that cross the range's ends.
WITH sid AS (
    SELECT id FROM series WHERE key = $1
), inside AS (
    SELECT ts, value,
           lag(ts) OVER w AS prev_ts, lag(value) OVER w AS prev
    FROM readings
    WHERE series_id = (SELECT id FROM sid)
      AND ts >= $2::timestamptz AND ts < $3::timestamptz AND quality < 2
    WINDOW w AS (ORDER BY ts)
), before AS (
    SELECT ts, value FROM readings
    WHERE series_id = (SELECT id FROM sid) AND ts < $2::timestamptz AND quality < 2
    ORDER BY ts DESC LIMIT 1
), after AS (
    SELECT ts, value FROM readings
    WHERE series_id = (SELECT id FROM sid) AND ts >= $3::timestamptz AND quality < 2
    ORDER BY ts LIMIT 1
), last_inside AS (
    SELECT ts, value FROM inside ORDER BY ts DESC LIMIT 1
), steps AS (
    SELECT i.ts, i.value,
           coalesce(i.prev_ts, (SELECT ts FROM before)) AS prev_ts,
           coalesce(i.prev, (SELECT value FROM before)) AS prev
    FROM inside i
    UNION ALL
    SELECT a.ts, a.value, l.ts, l.value FROM after a, last_inside l
    UNION ALL
    SELECT a.ts, a.value, b.ts, b.value FROM after a, before b
    WHERE NOT EXISTS (SELECT 1 FROM inside)
), classified AS (
    SELECT ts, value, prev_ts, prev,
           {bucket}('1 hour'::interval, ts, $2::timestamptz) AS hour,
           (value < prev OR ts - prev_ts > $4::interval
            OR {bucket}('1 hour'::interval, prev_ts, $2::timestamptz)
               <> {bucket}('1 hour'::interval, ts, $2::timestamptz)) AS special
    FROM steps WHERE prev_ts IS NOT NULL
)
SELECT hour, count(*) FILTER (WHERE NOT special) AS inner_steps,
       coalesce(sum(value - prev) FILTER (WHERE NOT special), 0) AS inner_increase,
       coalesce(sum(extract(epoch FROM ts - prev_ts)) FILTER (WHERE NOT special), 0)::float8
           AS inner_s,
       array_agg(prev_ts ORDER BY ts) FILTER (WHERE special) AS from_ts,
       array_agg(prev ORDER BY ts) FILTER (WHERE special) AS from_value,
       array_agg(ts ORDER BY ts) FILTER (WHERE special) AS to_ts,
       array_agg(value ORDER BY ts) FILTER (WHERE special) AS to_value
FROM classified GROUP BY hour ORDER BY hour;

-- name: hourly_band
-- How many of an hour's readings lie inside [$4, $5]: availability of the supply.
SELECT {bucket}('1 hour'::interval, ts, $2::timestamptz) AS hour, count(*) AS readings,
       count(*) FILTER (WHERE value >= $4 AND value <= $5) AS in_band
FROM readings
WHERE series_id = (SELECT id FROM series WHERE key = $1)
  AND ts >= $2::timestamptz AND ts < $3::timestamptz AND quality < 2
GROUP BY 1 ORDER BY 1;

-- name: hourly_average
-- The bare aggregate the accounting benchmark compares itself with.
SELECT s.key, {bucket}('1 hour'::interval, r.ts, $2::timestamptz) AS hour,
       avg(r.value) AS value, count(*) AS readings
FROM readings r JOIN series s ON s.id = r.series_id
WHERE s.key = ANY($1::text[]) AND r.ts >= $2::timestamptz AND r.ts < $3::timestamptz
GROUP BY 1, 2 ORDER BY 1, 2;

-- name: latest_good
-- The newest good (0) reading of one series: where a ramp starts when no readback is fresh.
SELECT r.value, r.ts FROM readings r JOIN series s ON s.id = r.series_id
WHERE s.key = $1 AND r.quality = 0 ORDER BY r.ts DESC LIMIT 1;

-- name: fresh_series
-- Which of the series a ramp depends on have a reading since $2.
SELECT s.key FROM series s WHERE s.key = ANY($1::text[]) AND EXISTS (
    SELECT 1 FROM readings r WHERE r.series_id = s.id AND r.ts >= $2);

-- name: energy_kwh
-- The energy a heat-power series (kW) delivered in [$2, $3): the trapezoid over its stored
-- readings, nothing counted across a gap longer than $4 seconds (the monitor's API).
SELECT coalesce(sum(CASE WHEN dt <= $4 THEN (value + prev) / 2 * dt / 3600 END), 0) AS kwh,
       count(*) AS n
FROM (SELECT r.value, lag(r.value) OVER w AS prev,
             extract(epoch FROM r.ts - lag(r.ts) OVER w)::float8 AS dt
      FROM readings r JOIN series s ON s.id = r.series_id
      WHERE s.key = $1 AND r.ts >= $2 AND r.ts < $3 AND r.quality < 2
      WINDOW w AS (ORDER BY r.ts)) AS steps;

-- name: readings_since
-- Every reading after $1 (plant time), oldest first: the monitor's replay on a restart.
SELECT s.key, r.ts, r.value, r.quality FROM readings r
JOIN series s ON s.id = r.series_id WHERE r.ts > $1 ORDER BY r.ts;

-- name: series_ids
-- Every series' database id by key: the partitioned monitor reads the inbox's COPY bodies,
-- which carry ids.
SELECT id, key FROM series;
