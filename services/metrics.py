"""Prometheus metrics of the service, on a registry of the app's own (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.readings = Counter(
            "heatlink_ingest_readings_total", "Readings received, by outcome",
            ["outcome"], registry=self.registry)
        self.rejected = Counter(
            "heatlink_ingest_rejected_total", "Readings rejected, by reason",
            ["reason"], registry=self.registry)
        self.batches = Counter(
            "heatlink_ingest_batches_total", "Ingest batches, by outcome",
            ["outcome"], registry=self.registry)
        self.batch_seconds = Histogram(
            "heatlink_ingest_batch_seconds", "Time to check and store one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry)
        self.pool_connections = Gauge(
            "heatlink_db_pool_connections", "Database pool connections, by state",
            ["state"], registry=self.registry)
        self.retention_dropped = Counter(
            "heatlink_storage_retention_dropped_total",
            "Chunks (or rows on plain PostgreSQL) dropped for retention",
            registry=self.registry)
