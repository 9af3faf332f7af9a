-- An attempt is written when its delivery is claimed and completed with its outcome, so an
-- attempt cut short by a crash stays visible as 'sending' with no finished_at.
ALTER TABLE alert_delivery_attempts ADD COLUMN finished_at timestamptz;
