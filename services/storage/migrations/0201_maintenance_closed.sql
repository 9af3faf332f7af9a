-- When a maintenance window's end was processed (its notices cleared).
ALTER TABLE maintenance_windows ADD COLUMN closed_at timestamptz;
CREATE INDEX maintenance_windows_open ON maintenance_windows (ends_at) WHERE closed_at IS NULL;
