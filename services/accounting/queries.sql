-- The accounting domain's own tables (migration 0400_accounting.sql).

-- name: cached_point_hours
SELECT point, hour, value, coverage, mean_flow, mean_dtheta_k, error_pct, flags
FROM accounting_point_hours
WHERE exchange = $1 AND point = $2 AND hour >= $3 AND hour < $4;

-- name: store_point_hours
INSERT INTO accounting_point_hours (exchange, point, hour, value, coverage, mean_flow,
                                    mean_dtheta_k, error_pct, flags, computed_at)
SELECT $1, $2, h, v, c, f, d, e, string_to_array(fl, ','), $10::timestamptz
FROM unnest($3::timestamptz[], $4::float8[], $5::float8[], $6::float8[], $7::float8[],
            $8::float8[], $9::text[]) AS u (h, v, c, f, d, e, fl)
ON CONFLICT (exchange, point, hour) DO UPDATE SET
    value = excluded.value, coverage = excluded.coverage, mean_flow = excluded.mean_flow,
    mean_dtheta_k = excluded.mean_dtheta_k, error_pct = excluded.error_pct,
    flags = excluded.flags, computed_at = excluded.computed_at;

-- name: forget_point_hours
-- Late readings between $3 and $4: those hours, and every hour of the point in the weeks
-- before that was missing or bridged by register interpolation (a late reading may close
-- a gap that began long before it).
DELETE FROM accounting_point_hours
WHERE exchange = $1 AND point = $2
  AND ((hour >= $3 AND hour <= $4)
       OR (hour >= $3 - interval '35 days' AND hour <= $4
           AND (value IS NULL OR 'register_gap' = ANY (flags))));

-- name: forget_open_hours
DELETE FROM accounting_point_hours WHERE hour >= $1;

-- name: forget_open_band_hours
DELETE FROM accounting_band_hours WHERE hour >= $1;

-- name: cached_band_hours
SELECT hour, readings, in_band FROM accounting_band_hours
WHERE exchange = $1 AND hour >= $2 AND hour < $3;

-- name: store_band_hours
INSERT INTO accounting_band_hours (exchange, hour, readings, in_band, computed_at)
SELECT $1, h, r, b, $5 FROM unnest($2::timestamptz[], $3::int[], $4::int[]) AS u (h, r, b)
ON CONFLICT (exchange, hour) DO UPDATE SET
    readings = excluded.readings, in_band = excluded.in_band,
    computed_at = excluded.computed_at;

-- name: forget_band_hours
DELETE FROM accounting_band_hours WHERE exchange = $1 AND hour >= $2 AND hour <= $3;

-- name: closed_revisions
SELECT revision, content_sha256, closed_at, closed_by, reason
FROM accounting_statements WHERE exchange = $1 AND month = $2 ORDER BY revision;

-- name: closed_statement
SELECT revision, body, csv, pdf, content_sha256 FROM accounting_statements
WHERE exchange = $1 AND month = $2 AND revision = $3;

-- name: store_statement
INSERT INTO accounting_statements (exchange, month, revision, body, content_sha256, csv,
                                   pdf, closed_at, closed_by, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: reopened
SELECT revision, reason, requested_by, org, at FROM accounting_reopened
WHERE exchange = $1 AND month = $2 ORDER BY revision DESC LIMIT 1;

-- name: reopen
INSERT INTO accounting_reopened (exchange, month, revision, reason, requested_by, org, at)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: close_requests
SELECT org, actor, at FROM accounting_close_requests
WHERE exchange = $1 AND month = $2 AND revision = $3 ORDER BY org;

-- name: request_close
INSERT INTO accounting_close_requests (exchange, month, revision, org, actor, at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING;

-- name: lock_month
SELECT pg_advisory_xact_lock(hashtext('accounting:' || $1::text || ':' || $2::text));

-- name: rules
SELECT version, spec, reason, proposed_by_org, proposed_by, proposed_at, agreed_by_org,
       agreed_by, agreed_at
FROM accounting_substitution_rules WHERE exchange = $1 ORDER BY version;

-- name: propose_rule
INSERT INTO accounting_substitution_rules (exchange, version, spec, reason, proposed_by_org,
                                           proposed_by, proposed_at, agreed_by_org,
                                           agreed_by, agreed_at)
SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9
FROM accounting_substitution_rules WHERE exchange = $1
RETURNING version;

-- name: agree_rule
UPDATE accounting_substitution_rules SET agreed_by_org = $3, agreed_by = $4, agreed_at = $5
WHERE exchange = $1 AND version = $2 AND agreed_at IS NULL;

-- name: lock_rules
SELECT pg_advisory_xact_lock(hashtext('accounting-rules:' || $1::text));

-- name: comments
-- index: accounting_comments_hour
SELECT id, hour, resource, org, author, at, text FROM accounting_comments
WHERE exchange = $1 AND hour >= $2 AND hour < $3 ORDER BY hour, id;

-- name: add_comment
INSERT INTO accounting_comments (exchange, hour, resource, org, author, at, text)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id;

-- name: audit
INSERT INTO accounting_audit (at, exchange, org, actor, action, detail)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: audit_log
-- index: accounting_audit_exchange
SELECT at, org, actor, action, detail FROM accounting_audit
WHERE exchange = $1 ORDER BY at DESC, id DESC LIMIT $2;
