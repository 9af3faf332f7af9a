"""Counters of the alert module, on the service's registry (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.attempts = Counter("heatlink_alerts_delivery_attempts_total",
                                "Delivery attempts, by channel and outcome",
                                ["channel", "outcome"], registry=registry)
        self.transitions = Counter("heatlink_alerts_transitions_total",
                                   "Alert transitions, by event", ["event"], registry=registry)
        self.queued = Counter("heatlink_alerts_deliveries_queued_total",
                              "Deliveries written to the outbox", registry=registry)
        self.sink_errors = Counter("heatlink_alerts_impact_errors_total",
                                   "Findings whose impact could not be worked out (told to "
                                   "their owners only)", registry=registry)
