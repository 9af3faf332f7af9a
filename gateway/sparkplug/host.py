"""`SparkplugHost`: births, deaths and data of one Sparkplug group, as readings.

Pure: bytes in, readings and requests out, time from the injected clock. What Sparkplug 3.0
asks of a host application and where it is done here:

- NBIRTH and DBIRTH name each metric, its alias and datatype (and here: its unit); later
  NDATA and DDATA may name a metric by alias only, so data of a node or device whose birth
  was not seen cannot be read: the host asks for a rebirth instead of guessing.
- NDEATH carries the ``bdSeq`` of the session it ends; one that does not match the current
  birth is an old will arriving late and changes nothing. A death makes every series of the
  node (or device) ``unknown`` at once, with its last value: stale, which the monitor tells
  from a process outage (no flow would be a value, not the absence of one). The births stay
  known until the next ones: a data message the broker delivers again after a reconnect
  (one the gateway had not acknowledged) may come after the death, and is still readable.
- ``seq`` gaps that outlast the reorder timeout call for a rebirth (`due`).
- Metrics flagged ``is_historical`` (an edge's store and forward) are stored with their own
  timestamps and never count as the latest value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import isfinite

from google.protobuf.message import DecodeError

from gateway.columns import ReadingColumns
from gateway.config import SparkplugMetric
from gateway.sparkplug import sparkplug_b_pb2 as pb
from gateway.sparkplug.metrics import NotANumber, long_metric, number, quality_of, unit_of
from gateway.sparkplug.sequence import Sequence as SeqTracker
from gateway.sparkplug.topic import EdgeTopic, MessageType
from heatlink.clock import Clock
from heatlink.quality import QUALITY_CODES
from heatlink.units import UNITS
from heatlink.wire import Quality, Reading, from_us, to_us

log = logging.getLogger("gateway.sparkplug")
REBIRTH_HOLDOFF = timedelta(seconds=10)  # one request per node at most this often
ONE_MS = timedelta(milliseconds=1)
# An enum member read from its class costs a fifth of a microsecond (Python 3.11): more than
# many a step of the hot path. It reads these instead.
NBIRTH, NDEATH, NDATA, NCMD = (MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA,
                               MessageType.NCMD)
DBIRTH, DDATA, DCMD = MessageType.DBIRTH, MessageType.DDATA, MessageType.DCMD
GOOD_CODE = QUALITY_CODES["good"]


@dataclass(slots=True)
class MetricDef:
    name: str
    datatype: int
    series: str | None  # None: not configured, its values are not wanted
    unit: str | None




@dataclass(slots=True)
class Scope:
    """What one birth certificate said: an edge node's own metrics, or a device's."""

    by_alias: dict[int, MetricDef] = field(default_factory=dict)
    by_name: dict[str, MetricDef] = field(default_factory=dict)
    # series -> (time in µs since the epoch, value, unit) of its latest live value
    last: dict[str, tuple[int, float, str | None]] = field(default_factory=dict)
    online: bool = True


@dataclass(slots=True)
class EdgeNode:
    bdseq: int | None
    seq: SeqTracker
    scope: Scope
    devices: dict[str, Scope] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    readings: ReadingColumns = field(default_factory=ReadingColumns)
    rebirth: list[str] = field(default_factory=list)  # edge nodes to ask for a rebirth
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, sample)


class SparkplugHost:
    def __init__(self, group: str, metrics: Sequence[SparkplugMetric], clock: Clock, *,
                 reorder_timeout_s: float = 5.0, rebirth: bool = True) -> None:
        self.group = group
        self._clock = clock
        self._reorder = timedelta(seconds=reorder_timeout_s)
        self._rebirth = rebirth
        self._targets = {(m.node, m.device, m.metric): m for m in metrics}
        self.nodes: dict[str, EdgeNode] = {}
        self._asked: dict[str, datetime] = {}  # node -> when a rebirth was last requested
        self._warned_units: set[tuple[str, str | None, str]] = set()

    # ---- messages --------------------------------------------------------------------------

    def handle(self, topic: EdgeTopic, raw: bytes | bytearray,
               into: ReadingColumns | None = None) -> Outcome:
        """What a message means; its readings are added to `into` when given (a source's
        columns, which collect many messages' readings), else to columns of their own."""
        out = Outcome() if into is None else Outcome(into)
        kind = topic.type
        if topic.group != self.group or kind is NCMD or kind is DCMD:
            return out
        try:
            payload = pb.Payload.FromString(bytes(raw))
        except DecodeError:
            out.problems.append(("not_sparkplug", f"{kind} {topic.node}"))
            return out
        now = self._clock.now()
        if kind is NBIRTH:
            self._node_birth(topic.node, payload, now, out)
        elif kind is NDEATH:
            self._node_death(topic.node, payload, now, out)
        else:  # DBIRTH, DDEATH, DDATA, NDATA
            node = self.nodes.get(topic.node)
            if node is None:
                self._ask(topic.node, now, out, f"{kind} from {topic.node}, whose "
                          "NBIRTH was not seen")
                return out
            if payload.HasField("seq"):
                node.seq.see(payload.seq, now)
            if kind is NDATA:
                self._data(topic.node, None, node.scope, payload, now, out)
            else:
                assert topic.device is not None
                self._device(node, topic, payload, now, out)
        return out

    def _device(self, node: EdgeNode, topic: EdgeTopic, payload: pb.Payload, now: datetime,
                out: Outcome) -> None:
        device = topic.device
        assert device is not None
        if topic.type is DBIRTH:
            scope = Scope()
            node.devices[device] = scope
            self._define(topic.node, device, scope, payload.metrics)
            log.info("sparkplug %s/%s/%s: born, %d metric(s)", self.group, topic.node, device,
                     len(scope.by_name))
            self._data(topic.node, device, scope, payload, now, out)
            return
        found = node.devices.get(device)
        if found is None:
            self._ask(topic.node, now, out, f"{topic.type} from device {device} of "
                      f"{topic.node}, whose DBIRTH was not seen")
            return
        if topic.type is DDATA:
            self._data(topic.node, device, found, payload, now, out)
            return
        if found.online:  # DDEATH
            at = _ts(payload.timestamp) if payload.HasField("timestamp") else now
            out.readings.extend(_unknown(found, at))
            found.online = False
            log.info("sparkplug %s/%s/%s: offline (DDEATH)", self.group, topic.node, device)

    def _node_birth(self, name: str, payload: pb.Payload, now: datetime, out: Outcome) -> None:
        bdseq = long_metric(payload, "bdSeq")
        node = EdgeNode(bdseq, SeqTracker(payload.seq), Scope())
        self.nodes[name] = node  # devices are born again after their node
        self._asked.pop(name, None)
        self._define(name, None, node.scope, payload.metrics)
        log.info("sparkplug %s/%s: born (bdSeq %s), %d metric(s)", self.group, name, bdseq,
                 len(node.scope.by_name))
        self._data(name, None, node.scope, payload, now, out)

    def _node_death(self, name: str, payload: pb.Payload, now: datetime, out: Outcome) -> None:
        node = self.nodes.get(name)
        if node is None or not node.scope.online:
            return
        bdseq = long_metric(payload, "bdSeq")
        if bdseq is not None and node.bdseq is not None and bdseq != node.bdseq:
            # The will of an earlier session, delivered after the node was born again.
            log.debug("sparkplug %s/%s: NDEATH bdSeq %d of an earlier session ignored",
                      self.group, name, bdseq)
            return
        # The will's own timestamp is when it was registered, not when the node died.
        for scope in (node.scope, *node.devices.values()):
            if scope.online:
                out.readings.extend(_unknown(scope, now))
                scope.online = False
        log.info("sparkplug %s/%s: offline (NDEATH bdSeq %s)", self.group, name, bdseq)

    def _define(self, node: str, device: str | None, scope: Scope,
                metrics: Iterable[pb.Payload.Metric]) -> None:
        for metric in metrics:
            if not metric.name:
                continue
            target = self._targets.get((node, device, metric.name))
            unit = target.unit if target is not None else None
            if target is not None and unit is None:
                unit = unit_of(metric)
                self._check_unit(node, device, metric.name, unit)
            mdef = MetricDef(metric.name, metric.datatype,
                             target.series if target is not None else None, unit)
            scope.by_name[metric.name] = mdef
            if metric.HasField("alias"):
                scope.by_alias[metric.alias] = mdef

    def _check_unit(self, node: str, device: str | None, metric: str, unit: str | None) -> None:
        key = (node, device, metric)
        if unit is None or unit in UNITS or key in self._warned_units:
            return
        self._warned_units.add(key)
        log.warning("sparkplug %s/%s/%s: metric %r is in %r, a unit heatlink does not know; "
                    "the service will refuse its readings until the metric declares `unit:`",
                    self.group, node, device or "-", metric, unit)

    def _data(self, node: str, device: str | None, scope: Scope, payload: pb.Payload,
              now: datetime, out: Outcome) -> None:
        # The hot path (tens of thousands of metrics a second): each metric's value goes
        # straight into its series' run of columns, no reading made; one look-up per field
        # of the decoded metric, and none where a zero cannot be meant (aliases are given
        # from 1 on by most nodes, a timestamp of 0 is no time, a double other than 0.0 is
        # one that was sent).
        sent_ms = payload.timestamp
        sent_us = sent_ms * 1000 if sent_ms else to_us(now)
        by_alias, by_name, last = scope.by_alias, scope.by_name, scope.last
        columns = out.readings
        latest = columns.latest
        double, finite = pb.Double, isfinite
        for metric in payload.metrics:
            alias = metric.alias
            mdef = by_alias.get(alias) if alias or metric.HasField("alias") else \
                by_name.get(metric.name)
            if mdef is None:
                out.problems.append(("unknown_metric", f"{node}/{device or '-'}: "
                                     f"{metric.name or f'alias {metric.alias}'}"))
                self._ask(node, now, out, f"{node}/{device or '-'} sent a metric its birth "
                          "did not declare")
                continue
            series = mdef.series
            if series is None:
                continue
            datatype = metric.datatype or mdef.datatype
            value: float
            if datatype == double and ((value := metric.double_value)
                                       or metric.WhichOneof("value") == "double_value"):
                if not finite(value):
                    out.problems.append(("not_finite", f"{series}: {metric}"[:200]))
                    continue
            else:
                found = number(metric, datatype)
                if found is None:
                    continue
                if isinstance(found, NotANumber):
                    out.problems.append((found.kind, f"{series}: {metric}"[:200]))
                    continue
                value = found
            ms = metric.timestamp
            ts_us = ms * 1000 if ms else sent_us
            unit = mdef.unit
            run = latest.get(series)
            if run is None or run.unit is not unit:
                run = columns.run(series, unit)
            run.ts_us.append(ts_us)
            run.values.append(value)
            run.quality.append(QUALITY_CODES[quality_of(metric)]
                               if metric.HasField("properties") else GOOD_CODE)
            if not metric.is_historical:
                previous = last.get(series)
                if previous is None or ts_us >= previous[0]:
                    last[series] = (ts_us, value, unit)

    # ---- time and the broker ---------------------------------------------------------------

    def due(self) -> list[str]:
        """Edge nodes with a gap in ``seq`` older than the reorder timeout: ask them for a
        rebirth (each gap once)."""
        now = self._clock.now()
        out = Outcome()
        for name, node in self.nodes.items():
            if node.scope.online and node.seq.overdue(now, self._reorder):
                node.seq.forget_gaps()
                self._ask(name, now, out, "a gap in its seq was not filled in time",
                          holdoff=False)
        return out.rebirth

    def lost_broker(self) -> list[Reading]:
        """The host lost the broker: every series it knew is stale from now (Sparkplug
        5.3). The births are kept: a message the broker delivers again after the reconnect
        (one not yet acknowledged) is still readable."""
        now = self._clock.now()
        return [reading for node in self.nodes.values()
                for scope in (node.scope, *node.devices.values()) if scope.online
                for reading in _unknown(scope, now)]

    def reconnected(self) -> list[str]:
        """Back on the broker: what was published meanwhile at QoS 0 is lost, births
        included, so every known edge node is asked to be born again."""
        now = self._clock.now()
        out = Outcome()
        for name, node in self.nodes.items():
            node.seq.forget_gaps()
            if node.scope.online:
                self._ask(name, now, out, "the host was away from the broker", holdoff=False)
        return out.rebirth

    def _ask(self, node: str, now: datetime, out: Outcome, why: str, *,
             holdoff: bool = True) -> None:
        if not self._rebirth:
            return
        asked = self._asked.get(node)
        if holdoff and asked is not None and now - asked < REBIRTH_HOLDOFF:
            return
        self._asked[node] = now
        out.rebirth.append(node)
        log.info("sparkplug %s/%s: asking for a rebirth: %s", self.group, node, why)


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _unknown(scope: Scope, at: datetime) -> list[Reading]:
    """Every series of a scope, stale from `at`: its last value with quality unknown (a
    millisecond after that value at least, so it is the newer of the two)."""
    return [Reading(series, max(at, from_us(ts_us) + ONE_MS), value, Quality.UNKNOWN, unit)
            for series, (ts_us, value, unit) in scope.last.items()]
