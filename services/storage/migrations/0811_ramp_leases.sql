-- Ramp leases (issue 17): a live ramp has one holder at a time, the replica that runs it.
-- The holder renews `lease_until` on the database's clock; every write of the ramp (and
-- the command it sends, in the same transaction) is fenced on `holder`, so a replica that
-- lost the ramp (its lease ran out and another took it over, or another cancelled it)
-- writes and sends nothing more. `epoch` counts changes of holder, for the audit.
ALTER TABLE control_ramps
    ADD COLUMN holder      text,
    ADD COLUMN lease_until timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN epoch       bigint NOT NULL DEFAULT 0;
CREATE INDEX control_ramps_live ON control_ramps (lease_until)
    WHERE status IN ('running', 'held');
