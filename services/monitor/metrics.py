"""Prometheus metrics of the monitor, on the registry the app gives it (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class MonitorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.readings = Counter(
            "heatlink_monitor_readings_total",
            "Readings offered to the monitor, by outcome (evaluated, already_seen, "
            "bad_quality, unknown_series)", ["outcome"], registry=self.registry)
        self.derived = Counter(
            "heatlink_monitor_derived_samples_total",
            "Samples the monitor computed (heat power, exchanger UA and mismatch)",
            registry=self.registry)
        self.findings = Counter(
            "heatlink_monitor_findings_total", "Findings (changes of state), by kind and state",
            ["kind", "state"], registry=self.registry)
        self.handover_failures = Counter(
            "heatlink_monitor_handover_failures_total",
            "Calls to the finding sink that raised (the findings are offered again)",
            registry=self.registry)
        self.batch_seconds = Histogram(
            "heatlink_monitor_batch_seconds", "Time to evaluate and store one queued batch",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry)
        self.queued = Gauge(
            "heatlink_monitor_queued_batches", "Stored batches waiting for the monitor",
            registry=self.registry)
