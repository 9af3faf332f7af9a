"""Prometheus view of the gateway's counters, collected at scrape time.

Each gateway has its own registry (no global state), so tests can run several gateways in
one process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.stats import ForwarderStats, SourceStats, UplinkStats

if TYPE_CHECKING:
    from gateway.control import ControlStats


@dataclass
class BufferFigures:
    """Refreshed by the runner before each scrape (reading the buffer needs awaiting)."""

    depth: int = 0
    oldest_age_s: float = 0.0
    dropped_total: int = 0
    used_bytes: int = 0
    quota_bytes: int = 0
    dead_letters_total: int = 0


class GatewayCollector(Collector):
    def __init__(self, sources: Sequence[SourceStats], forwarder: ForwarderStats,
                 buffer: BufferFigures, control: ControlStats | None = None,
                 uplink: UplinkStats | None = None) -> None:
        self.uplink = uplink or UplinkStats()
        self.sources = sources
        self.forwarder = forwarder
        self.buffer = buffer
        self.control = control

    def collect(self) -> Iterator[Metric]:
        labels = ["source", "kind"]
        readings_in = CounterMetricFamily("heatlink_gateway_readings_in",
                                          "Readings read from a source", labels=labels)
        up = GaugeMetricFamily("heatlink_gateway_source_up", "1 while connected", labels=labels)
        reconnects = CounterMetricFamily("heatlink_gateway_source_reconnects",
                                         "Reconnect attempts", labels=labels)
        rebuilds = CounterMetricFamily("heatlink_gateway_source_watchdog_rebuilds",
                                       "Silent subscriptions rebuilt", labels=labels)
        bad = CounterMetricFamily("heatlink_gateway_bad_payloads",
                                  "Payloads skipped as unreadable", labels=[*labels, "reason"])
        events = CounterMetricFamily("heatlink_gateway_source_events",
                                     "What a source did besides reading: Sparkplug rebirth "
                                     "requests and deaths, OPC UA history reads",
                                     labels=[*labels, "event"])
        for s in self.sources:
            ls = [s.name, s.kind]
            readings_in.add_metric(ls, s.readings_total)
            up.add_metric(ls, 1.0 if s.up else 0.0)
            reconnects.add_metric(ls, s.reconnects_total)
            rebuilds.add_metric(ls, s.watchdog_rebuilds_total)
            for reason, n in s.bad_payloads.items():
                bad.add_metric([*ls, reason], n)
            for event, n in s.events.items():
                events.add_metric([*ls, event], n)
        yield from (readings_in, up, reconnects, rebuilds, bad, events)

        f = self.forwarder
        yield CounterMetricFamily("heatlink_gateway_readings_out",
                                  "Readings acknowledged by the service",
                                  value=f.readings_out_total)
        batches = CounterMetricFamily("heatlink_gateway_uplink_attempts",
                                      "Batch send attempts", labels=["outcome"])
        for outcome, n in f.batches_total.items():
            batches.add_metric([outcome], n)
        yield batches
        resumes = CounterMetricFamily("heatlink_gateway_uplink_resumes",
                                      "Waits after a failed send, by what ended them "
                                      "(backoff, or readiness of the service)", labels=["on"])
        for on, n in f.resumes_total.items():
            resumes.add_metric([on], n)
        yield resumes
        rejected = CounterMetricFamily("heatlink_gateway_readings_rejected",
                                       "Readings dead-lettered", labels=["reason"])
        for reason, n in f.rejected_total.items():
            rejected.add_metric([reason], n)
        yield rejected
        yield CounterMetricFamily("heatlink_gateway_readings_duplicate",
                                  "Readings the service already had", value=f.duplicates_total)
        yield GaugeMetricFamily("heatlink_gateway_uplink_up", "1 while the service accepts",
                                value=1.0 if f.uplink_up else 0.0)
        failovers = CounterMetricFamily("heatlink_gateway_uplink_failovers",
                                        "Batches a service replica could not take, so the "
                                        "next replica was tried", labels=["url"])
        for url, n in self.uplink.failovers_total.items():
            failovers.add_metric([url], n)
        yield failovers
        current = GaugeMetricFamily("heatlink_gateway_uplink_current",
                                    "1 for the service replica that takes the next batch",
                                    labels=["url"])
        if self.uplink.current:
            current.add_metric([self.uplink.current], 1.0)
        yield current

        b = self.buffer
        yield GaugeMetricFamily("heatlink_gateway_buffer_depth_readings",
                                "Readings waiting in the buffer", value=b.depth)
        yield GaugeMetricFamily("heatlink_gateway_buffer_oldest_age_seconds",
                                "Age of the oldest buffered reading", value=b.oldest_age_s)
        yield GaugeMetricFamily("heatlink_gateway_buffer_used_bytes",
                                "Bytes of the buffer's files on disk (database, WAL, index)",
                                value=b.used_bytes)
        yield GaugeMetricFamily("heatlink_gateway_buffer_quota_bytes",
                                "Disk quota of the buffer's files", value=b.quota_bytes)
        yield CounterMetricFamily("heatlink_gateway_buffer_dropped",
                                  "Readings dropped (oldest first, never a batch in flight) "
                                  "over the disk quota", value=b.dropped_total)
        yield CounterMetricFamily("heatlink_gateway_dead_letters",
                                  "Readings written to the dead-letter file",
                                  value=b.dead_letters_total)
        if self.control is not None:
            yield from self._control(self.control)

    def _control(self, c: ControlStats) -> Iterator[Metric]:
        for name, doc, label, counts in (
                ("heatlink_gateway_control_results", "Commands answered, by status",
                 "status", c.results_total),
                ("heatlink_gateway_control_refused", "Commands refused without writing, by "
                 "the bound or rule that refused them", "reason", c.refused_total),
                ("heatlink_gateway_control_dropped", "Commands dropped unanswered (unsigned, "
                 "forged, unreadable, for another gateway), by reason", "reason",
                 c.dropped_total)):
            family = CounterMetricFamily(name, doc, labels=[label])
            for value, n in counts.items():
                family.add_metric([value], n)
            yield family


def make_registry(collector: GatewayCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
