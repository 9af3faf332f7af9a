-- Control's own tables (migrations 0300, 0310): ramps, commands, the audit log and
-- protective-action requests. Loaded by name from services/control/store.py; readings
-- and alerts are asked of their owners (services/readings/store.py, alerts/history.py).

-- name: insert_ramp
INSERT INTO control_ramps (point, owner, requested_by, start_value, target,
    rate_per_h, status, steps, orgs, requested_at, updated_at, holder, lease_until)
    VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $9, $10,
            now() + make_interval(secs => $11)) RETURNING id;

-- name: update_ramp
-- Fenced: only the holder writes a live ramp; no row means the ramp was lost.
UPDATE control_ramps SET status = $2, reasons = $3::jsonb, confirmed_value = $4,
    step = $5, steps = $6, updated_at = $7
    WHERE id = $1 AND holder = $8 AND status IN ('running', 'held') RETURNING id;

-- name: renew_leases
-- The holder's ramps still live and still its own, their leases renewed.
UPDATE control_ramps SET lease_until = now() + make_interval(secs => $3)
    WHERE id = ANY($1::bigint[]) AND holder = $2 AND status IN ('running', 'held')
    RETURNING id;

-- name: take_over_lapsed
-- index: control_ramps_live
-- Live ramps whose holder stopped renewing: held by the caller from now on.
UPDATE control_ramps r SET holder = $1, lease_until = now() + make_interval(secs => $2),
    epoch = r.epoch + 1, status = 'held', updated_at = $3,
    reasons = jsonb_build_array('owner lost: ' || coalesce(prev.holder, 'the service before a restart')
                                || ' stopped renewing its lease')
    FROM (SELECT id, holder FROM control_ramps
          WHERE status IN ('running', 'held') AND lease_until < now()
          FOR UPDATE SKIP LOCKED) prev
    WHERE r.id = prev.id
    RETURNING r.id, r.point, r.orgs, r.target, r.rate_per_h, r.start_value,
              r.confirmed_value, r.step, r.steps, r.epoch, prev.holder AS lost_holder,
              r.reasons;

-- name: take_over_held
-- A held ramp moved to the replica an operator resumes it on: a held ramp sends nothing,
-- and the old holder's next write is fenced off.
UPDATE control_ramps r SET holder = $2, lease_until = now() + make_interval(secs => $3),
    epoch = r.epoch + 1, updated_at = $4
    FROM (SELECT id, holder FROM control_ramps WHERE id = $1 AND status = 'held'
          FOR UPDATE) prev
    WHERE r.id = prev.id
    RETURNING r.id, r.point, r.orgs, r.target, r.rate_per_h, r.start_value,
              r.confirmed_value, r.step, r.steps, r.epoch, prev.holder AS lost_holder,
              r.reasons;

-- name: cancel_held_elsewhere
-- Cancel a live ramp another replica holds (or none does): the holder's next write is
-- fenced off and it forgets the ramp.
UPDATE control_ramps r SET status = 'cancelled', holder = $2, epoch = r.epoch + 1,
    updated_at = $3, reasons = jsonb_build_array($4::text)
    FROM (SELECT id, holder FROM control_ramps WHERE id = ANY($1::bigint[])
          AND status IN ('running', 'held') FOR UPDATE) prev
    WHERE r.id = prev.id
    RETURNING r.id, r.point, r.orgs, r.confirmed_value, prev.holder AS lost_holder;

-- name: live_on_point
-- index: control_ramps_point
SELECT id FROM control_ramps WHERE point = $1 AND status IN ('running', 'held');

-- name: ramp_holder
SELECT holder, status FROM control_ramps WHERE id = $1;

-- name: last_plan_no
SELECT coalesce(max(substring(id from '-p([0-9]+)-')::int), 0) FROM control_commands
    WHERE ramp_id = $1;

-- name: insert_command
INSERT INTO control_commands (id, ramp_id, point, gateway, value, issued_at,
    expires_at, status, seq)
    VALUES ($1, $2, $3, $4, $5, $6, $7, 'sent', nextval('control_command_seq'))
    RETURNING seq;

-- name: last_readback
SELECT readback, answered_at FROM control_commands
    WHERE point = $1 AND gateway_status = 'applied' AND readback IS NOT NULL
    ORDER BY answered_at DESC LIMIT 1;

-- name: command_expired
UPDATE control_commands SET status = 'expired' WHERE id = $1 AND status = 'sent';

-- name: command_answered
UPDATE control_commands SET gateway_status = $2, readback = $3, answered_at = $4,
    detail = $5, status = CASE WHEN status = 'sent' THEN $2 ELSE status END
    WHERE id = $1 AND gateway = $6 AND gateway_status IS NULL RETURNING id;

-- name: audit
INSERT INTO control_audit (at, kind, actor, point, ramp_id, request_id, command_id,
    orgs, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb);

-- name: audit_log
-- index: control_audit_orgs
SELECT id, at, kind, actor, point, ramp_id, request_id, command_id, detail
    FROM control_audit
    -- orgs @> ARRAY[..] rather than = ANY(orgs): only the first can use the GIN index.
    WHERE ($1::text IS NULL OR orgs @> ARRAY[$1::text]) AND ($2::bigint IS NULL OR ramp_id = $2)
    AND ($3::text IS NULL OR point = $3)
    ORDER BY id DESC LIMIT $4;

-- name: get_ramp
SELECT id, point, owner, requested_by, start_value, target, rate_per_h, status,
    reasons, confirmed_value, step, steps, requested_at, updated_at
    FROM control_ramps WHERE id = $1 AND ($2::text IS NULL OR $2 = ANY(orgs));

-- name: ramp_commands
-- index: control_commands_ramp
SELECT id, seq, value, issued_at, expires_at, status, gateway_status, readback,
    answered_at, detail FROM control_commands WHERE ramp_id = $1
    ORDER BY issued_at, id;

-- name: list_ramps
SELECT id, point, owner, requested_by, start_value, target, rate_per_h, status,
    reasons, confirmed_value, step, steps, requested_at, updated_at
    FROM control_ramps WHERE ($1::text IS NULL OR $1 = ANY(orgs))
    ORDER BY id DESC LIMIT $2;

-- name: insert_request
INSERT INTO control_requests (exchange, from_org, to_org, action, reason, status,
    requested_by, requested_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)
    RETURNING *;

-- name: answer_request
UPDATE control_requests SET status = $2, answered_by = $3, answer_note = $4,
    answered_at = $5 WHERE id = $1 AND status = 'open' RETURNING *;

-- name: get_request
SELECT * FROM control_requests WHERE id = $1;

-- name: list_requests
SELECT * FROM control_requests WHERE $1::text IS NULL OR $1 IN (from_org, to_org)
    ORDER BY id DESC LIMIT 200;

-- name: lock_point
-- One request per writable point at a time across replicas, until the caller's commit:
-- the second sees the first's ramp and supersedes it.
SELECT pg_advisory_xact_lock(hashtext('control:' || $1));
