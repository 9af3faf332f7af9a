"""Counters of control, on the service's registry (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class ControlMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.events = Counter("heatlink_control_events_total",
                              "Ramp events (requested, step_sent, step_applied, step_expired, "
                              "held, resumed, readback_mismatch, …), by kind", ["kind"],
                              registry=registry)
        self.results = Counter("heatlink_control_results_total",
                               "Answers from gateways, by status", ["status"],
                               registry=registry)
        self.dropped = Counter("heatlink_control_results_dropped_total",
                               "Messages on a results topic dropped unread: unsigned, "
                               "forged, signed by an unknown key or for another gateway, "
                               "by reason", ["reason"], registry=registry)
        self.refused = Counter("heatlink_control_requests_refused_total",
                               "Change requests refused (403 or unplannable)",
                               registry=registry)
