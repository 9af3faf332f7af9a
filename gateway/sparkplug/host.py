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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import isfinite
from typing import Any

from google.protobuf.message import DecodeError

from gateway.columns import ReadingColumns, SeriesRun
from gateway.config import SparkplugMetric
from gateway.sparkplug import sparkplug_b_pb2 as pb
from gateway.sparkplug.metrics import NotANumber, long_metric, number, quality_of, unit_of
from gateway.sparkplug.sequence import Sequence as SeqTracker
from gateway.sparkplug.topic import EdgeTopic, MessageType
from heatlink.clock import Clock
from heatlink.inputs import LATEST, TIME_RANGE
from heatlink.quality import QUALITY_CODES
from heatlink.units import UNITS
from heatlink.wire import Quality, Reading, from_us, to_us

TakePlain = Callable[[bytes | bytearray, dict[Any, Any], int],
                     tuple[int | None, int, int] | None]
take_plain: TakePlain | None
try:  # built by setup.py where protobuf-c is installed; optional
    from gateway.sparkplug._plain_data import take as take_plain
except ImportError:
    take_plain = None

log = logging.getLogger("gateway.sparkplug")
REBIRTH_HOLDOFF = timedelta(seconds=10)  # one request per node at most this often
ONE_MS = timedelta(milliseconds=1)
# An enum member read from its class costs a fifth of a microsecond (Python 3.11): more than
# many a step of the hot path. It reads these instead.
NBIRTH, NDEATH, NDATA, NCMD = (MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA,
                               MessageType.NCMD)
DBIRTH, DDATA, DCMD = MessageType.DBIRTH, MessageType.DDATA, MessageType.DCMD
GOOD_CODE = QUALITY_CODES["good"]
FAST_TYPES = frozenset({pb.Double, pb.Float})  # values the data path reads without `number`
# A time (µs) from here on is refused, as the service would refuse it; Sparkplug's are
# unsigned milliseconds since 1970, so none is too early.
LATEST_US = to_us(LATEST)


@dataclass(slots=True)
class MetricDef:
    name: str
    datatype: int
    series: str | None  # None: not configured, its values are not wanted
    unit: str | None


# Where the live values of one metric go while a source's columns fill: whether they come
# as doubles (else as floats), the appends of its run's three columns, and the run.
Slot = tuple[bool, Callable[[int], None], Callable[[float], None], Callable[[int], None],
             SeriesRun]


@dataclass(slots=True)
class Scope:
    """What one birth certificate said: an edge node's own metrics, or a device's."""

    by_alias: dict[int, MetricDef] = field(default_factory=dict)
    by_name: dict[str, MetricDef] = field(default_factory=dict)
    # series -> (time in µs since the epoch, value, unit) of its latest live value, as of
    # the last `fold`: read it through `latest`
    last: dict[str, tuple[int, float, str | None]] = field(default_factory=dict)
    online: bool = True
    # The data path's state: the columns it fills (`into`, as of how many runs it had
    # started), and per alias the slots of metrics born as doubles or floats (the fast
    # path's), per alias or name those of any other.
    into: ReadingColumns | None = None
    started: int = 0
    slots: dict[int | str, Slot] = field(default_factory=dict)
    others: dict[int | str, Slot] = field(default_factory=dict)
    # series -> (run, index): the run its live values go to, from that index on; they
    # are folded into `last` when the series moves to another run, or `latest` is asked.
    live: dict[str, tuple[SeriesRun, int]] = field(default_factory=dict)

    def fill(self, columns: ReadingColumns) -> dict[int | str, Slot]:
        """The slots, valid for `columns`: none kept when these are other columns, or
        when a run was started there since (it may be the one a slot's series now goes to)."""
        if self.into is not columns or self.started != columns.started:
            self.slots.clear()
            self.others.clear()
            self.into, self.started = columns, columns.started
        return self.slots

    def slot(self, key: int | str, mdef: MetricDef, series: str) -> Slot:
        columns = self.into
        assert columns is not None
        run = columns.run(series, mdef.unit)
        self.started = columns.started  # (a run started here leaves the slots valid)
        entry = self.live.get(series)
        if entry is None or entry[0] is not run:
            self.fold(series)
            self.live[series] = (run, len(run.ts_us))
        slot = (mdef.datatype != pb.Float, run.ts_us.append, run.values.append,
                run.quality.append, run)
        fast = isinstance(key, int) and mdef.datatype in FAST_TYPES
        (self.slots if fast else self.others)[key] = slot
        return slot

    def fold(self, series: str) -> None:
        """Take the newest of the series' live values in its run into `last` (the last of
        those with the newest time, as if each had been compared as it came)."""
        entry = self.live.pop(series, None)
        if entry is None:
            return
        run, start = entry
        times = run.ts_us[start:]
        if not times:
            return
        newest = max(times)
        # (mostly the last: values come in time order)
        at = start + len(times) - 1 - (0 if times[-1] == newest else times[::-1].index(newest))
        previous = self.last.get(series)
        if previous is None or newest >= previous[0]:
            self.last[series] = (newest, run.values[at], run.unit)

    def latest(self) -> dict[str, tuple[int, float, str | None]]:
        """Every series' latest live value. The slots are dropped with the live runs: what
        is added to the runs after this (stale readings, say) is no live value."""
        for series in list(self.live):
            self.fold(series)
        self.slots.clear()
        self.others.clear()
        self.into = None
        return self.last


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
                 reorder_timeout_s: float = 5.0, rebirth: bool = True,
                 compiled: bool = True) -> None:
        self.group = group
        # Data messages' plain metrics through protobuf-c in C when it is built (and not
        # declined): the same readings as the path below, at several times the rate.
        self._take_plain = take_plain if compiled else None
        self._clock = clock
        self._reorder = timedelta(seconds=reorder_timeout_s)
        self._rebirth = rebirth
        self._targets = {(m.node, m.device, m.metric): m for m in metrics}
        self.nodes: dict[str, EdgeNode] = {}
        self._asked: dict[str, datetime] = {}  # node -> when a rebirth was last requested
        self._warned_units: set[tuple[str, str | None, str]] = set()

    @property
    def compiled(self) -> bool:
        """Whether data messages go through the compiled path."""
        return self._take_plain is not None

    # ---- messages --------------------------------------------------------------------------

    def handle(self, topic: EdgeTopic, raw: bytes | bytearray,
               into: ReadingColumns | None = None) -> Outcome:
        """What a message means; its readings are added to `into` when given (a source's
        columns, which collect many messages' readings), else to columns of their own."""
        out = Outcome() if into is None else Outcome(into)
        kind = topic.type
        if topic.group != self.group or kind is NCMD or kind is DCMD:
            return out
        if (kind is DDATA or kind is NDATA) and self._take_plain is not None and \
                self._plain_data(topic, raw, out):
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
                node.seq.see(payload.seq, self._clock)
            if kind is NDATA:
                self._data(topic.node, None, node.scope, payload, now, out)
            else:
                assert topic.device is not None
                self._device(node, topic, payload, now, out)
        return out

    def _plain_data(self, topic: EdgeTopic, raw: bytes | bytearray, out: Outcome) -> bool:
        """A data message of a known node or device through the compiled path, which takes
        its metrics up to the first that is not plain; the rest go the way of `_data`.
        False (nothing done) when the compiled path cannot read it: `handle` then does."""
        assert self._take_plain is not None
        node = self.nodes.get(topic.node)
        if node is None:
            return False
        scope = node.scope if topic.device is None else node.devices.get(topic.device)
        if scope is None:
            return False
        taken = self._take_plain(raw, scope.fill(out.readings), GOOD_CODE)
        if taken is None:
            return False
        seq, done, count = taken
        if seq is not None:
            node.seq.see(seq, self._clock)
        if done < count:
            now = self._clock.now()
            try:
                payload = pb.Payload.FromString(bytes(raw))
            except DecodeError:  # (protobuf-c read it: not seen, but not to be trusted)
                out.problems.append(("not_sparkplug", f"{topic.type} {topic.node}"))
                return True
            self._data(topic.node, topic.device, scope, payload, now, out, start=done)
        return True

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
            at = _ts(payload.timestamp) if 0 < payload.timestamp * 1000 < LATEST_US else now
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
              now: datetime, out: Outcome, start: int = 0) -> None:
        # The hot path where the compiled one (`_plain_data`) is not built, and the rest of
        # a message it stopped in (from `start`). A metric that comes by alias with a
        # double (or float) other than 0.0, live and without properties (what nearly every
        # data message holds) takes five look-ups of the decoded metric and goes straight
        # into its slot's columns; any other goes the way of `_metric`.
        sent_ms = payload.timestamp
        sent_us = sent_ms * 1000 if sent_ms else to_us(now)
        slots = scope.fill(out.readings)
        finite, has = isfinite, pb.Payload.Metric.HasField
        for metric in payload.metrics[start:] if start else payload.metrics:
            alias = metric.alias
            slot = slots.get(alias) if alias else None
            if slot is not None:
                double, add_ts, add_value, add_quality, _ = slot
                value = metric.double_value if double else metric.float_value
                ms = metric.timestamp
                ts_us = ms * 1000 if ms else sent_us
                if value and ts_us < LATEST_US and not metric.is_historical \
                        and not has(metric, "properties") and finite(value):
                    add_ts(ts_us)
                    add_value(value)
                    add_quality(GOOD_CODE)
                    continue
            self._metric(node, device, scope, metric, sent_us, now, out)

    def _metric(self, node: str, device: str | None, scope: Scope, metric: pb.Payload.Metric,
                sent_us: int, now: datetime, out: Outcome) -> None:
        """One metric of a data message, whatever it holds."""
        by_alias = metric.alias or metric.HasField("alias")
        key: int | str = metric.alias if by_alias else metric.name
        mdef = scope.by_alias.get(metric.alias) if by_alias else scope.by_name.get(metric.name)
        if mdef is None:
            out.problems.append(("unknown_metric", f"{node}/{device or '-'}: "
                                 f"{metric.name or f'alias {metric.alias}'}"))
            self._ask(node, now, out, f"{node}/{device or '-'} sent a metric its birth "
                      "did not declare")
            return
        series = mdef.series
        if series is None:
            return
        found = number(metric, metric.datatype or mdef.datatype)
        if found is None:
            return
        if isinstance(found, NotANumber):
            out.problems.append((found.kind, f"{series}: {metric}"[:200]))
            return
        ms = metric.timestamp
        ts_us = ms * 1000 if ms else sent_us
        if ts_us >= LATEST_US:
            out.problems.append(("bad_timestamp", f"{series}: {ms or sent_us // 1000} ms is "
                                 f"not {TIME_RANGE}"))
            return
        slot = scope.slots.get(key) or scope.others.get(key) or scope.slot(key, mdef, series)
        _, add_ts, add_value, add_quality, run = slot
        historical = metric.is_historical
        if historical:  # stored, never the latest value: it ends the live values before it
            scope.fold(series)
        add_ts(ts_us)
        add_value(found)
        add_quality(QUALITY_CODES[quality_of(metric)] if metric.HasField("properties")
                    else GOOD_CODE)
        if historical:
            scope.live[series] = (run, len(run.ts_us))

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
            for series, (ts_us, value, unit) in scope.latest().items()]
