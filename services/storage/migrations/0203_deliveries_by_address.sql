-- Flood control looks up what is waiting for one address when it queues a delivery.
CREATE INDEX alert_deliveries_pending_address ON alert_deliveries (channel, address, next_attempt_at)
    WHERE status = 'pending';
-- Failed deliveries are listed for their organisation to see.
CREATE INDEX alert_deliveries_org_status ON alert_deliveries (org, status, created_at DESC);
