"""The monitor in the service: a background task fed by the ingest observer.

Per batch of stored readings: evaluate (engine), store findings and watermarks in one
transaction, then hand the findings to the sink; a finding is marked handed over only
after the sink returned, so a crash or a failing sink re-delivers it (never loses it).
On start the state of every rule comes back from its last finding, history is warmed up
from stored readings already evaluated, and readings stored but not yet evaluated (the
service stopped in between) are evaluated now.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import numpy as np
from prometheus_client import CollectorRegistry

from heatlink.aio import cancel_and_wait
from heatlink.clock import Clock
from heatlink.cluster.bounds import rule_problems
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.model import Cluster
from heatlink.findings import Finding, FindingSink, State
from services.ingest.derived import DerivedReadings
from services.monitor.convert import ReadingArrays
from services.monitor.engine import Engine
from services.monitor.fence import Fence, LostPartitions
from services.monitor.group import VersionedRule
from services.monitor.metrics import MonitorMetrics
from services.monitor.plan import plan_from_cluster
from services.monitor.settings import EngineConfig
from services.monitor.store import DerivedRows, MonitorStore, parse_spec, spec_json
from services.storage.health import StorageHealth

log = logging.getLogger(__name__)

# Fields that shape the engine's series and derivations; they change in the cluster file.
FIXED_FIELDS = frozenset({"id", "kind", "owner", "series", "flow_series", "exchanger",
                          "hot_in", "hot_out", "hot_flow", "cold_in", "cold_out",
                          "cold_flow"})

Batch = tuple[list[str], list[datetime], list[float], list[str]]
Unsaved = tuple[list[Finding], dict[str, datetime], DerivedRows | None, Fence | None]


class RuleChangeError(ValueError):
    """A change that is not allowed (fixed field) or not valid for the rule's kind."""


class NotOwner(PermissionError):
    pass


class PartitionedFeedLike(Protocol):
    """What the runtime asks of `services.monitor.partitioned.PartitionedFeed`."""

    def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def flush(self) -> None: ...
    async def tick(self) -> None: ...
    def lost(self, partitions: set[int]) -> None: ...


class QueueObserver:
    """The `ReadingsObserver` ingest calls: copies the lists into the monitor's queue."""

    def __init__(self, queue: asyncio.Queue[Batch]) -> None:
        self._queue = queue

    def readings_stored(self, series_keys: Sequence[str], ts: Sequence[datetime],
                        values: Sequence[float], quality: Sequence[str]) -> None:
        self._queue.put_nowait((list(series_keys), list(ts), list(values), list(quality)))


class MonitorRuntime:
    def __init__(self, engine: Engine, store: MonitorStore, sink: FindingSink, clock: Clock,
                 cluster: Cluster, rules: Sequence[VersionedRule], tick_s: float,
                 metrics: MonitorMetrics | None = None,
                 storage: StorageHealth | None = None) -> None:
        self.engine = engine
        self.store = store
        self.sink = sink
        self.clock = clock
        self.cluster = cluster
        self.tick_s = tick_s
        self.metrics = metrics or MonitorMetrics()
        self.index = ClusterIndex(cluster)
        self._rules = {r.spec.id: r for r in rules}
        self._hard_limits = {h.series: h for h in cluster.hard_limits}
        self._queue: asyncio.Queue[Batch] = asyncio.Queue()
        self.observer = QueueObserver(self._queue)
        self.storage = storage
        # Evaluated while the database was unreachable, saved in order once it is back:
        # the engine has moved on, so dropping them would lose their transitions for good.
        self._unsaved: list[Unsaved] = []
        self._unsent: list[tuple[int, Finding]] = []
        # Each series' watermark as last handed to a save, for the engine whose table
        # `_marks_of` is (`_watermarks`).
        self._saved_marks: np.ndarray | None = None
        self._marks_of: object = None
        self._task: asyncio.Task[None] | None = None
        # Partitioned (HEATLINK_MONITOR_PARTITIONS): readings come from the inbox of the
        # partitions this replica holds (services/monitor/partitioned.py), not the queue.
        self.feed: PartitionedFeedLike | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self.feed is not None:
            self.feed.start()
            return
        self._task = asyncio.create_task(self._run(), name="heatlink-monitor")

    async def stop(self) -> None:
        """Evaluate what is queued, then stop the task."""
        await self.flush()
        if self.feed is not None:
            await self.feed.stop()
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def flush(self) -> None:
        """Return once every batch queued so far is evaluated, stored and offered."""
        if self.feed is not None:
            await self.feed.flush()
            return
        await self._queue.join()

    async def tick(self) -> None:
        """Judge staleness now (the task also does it every ``tick_s`` without readings)."""
        if self.feed is not None:
            await self.feed.tick()
            return
        await self.commit(self.engine.tick(self.clock.now().timestamp()), {})

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.tick_s):
                    first = await self._queue.get()
            except TimeoutError:
                try:
                    await self.tick()
                except Exception:
                    log.exception("monitor tick failed")
                continue
            items = [first]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                await self._evaluate(items)
            except Exception:  # a bug must not stop the monitor; the batch is logged
                log.exception("monitor failed on %d queued batches", len(items))
            finally:
                for _ in items:
                    self._queue.task_done()

    # -- evaluation ----------------------------------------------------------------------

    async def _evaluate(self, items: Sequence[Batch]) -> None:
        began = time.perf_counter()
        index = self.engine.table.index
        arrays = ReadingArrays.concat([ReadingArrays.from_lists(index, *item) for item in items])
        before = dataclasses.replace(self.engine.counters)
        findings = self.engine.process(arrays.idx, arrays.t_s, arrays.values, arrays.quality,
                                       now_s=self.clock.now().timestamp())
        await self.commit_evaluation(findings, arrays.idx)
        after, m = self.engine.counters, self.metrics
        m.readings.labels("unknown_series").inc(arrays.unknown)
        m.readings.labels("evaluated").inc(after.samples - before.samples)
        m.readings.labels("already_seen").inc(after.already_seen - before.already_seen)
        m.readings.labels("bad_quality").inc(after.bad_quality - before.bad_quality)
        m.derived.inc(after.derived - before.derived)
        m.queued.set(self._queue.qsize())
        m.batch_seconds.observe(time.perf_counter() - began)

    def _watermarks(self, idx: np.ndarray) -> dict[str, datetime]:
        """The watermarks of the series of ``idx`` that moved since they were last handed
        to a save: an evaluation that moved none (readings already seen, as from batches
        committed out of order) needs no transaction, and the database writes no row that
        stays as it is (a third of what it spent under bench ingest was this update)."""
        table = self.engine.table
        if self._saved_marks is None or self._marks_of is not table:  # a new engine
            self._saved_marks = np.full(len(table.watermark), -np.inf)
            self._marks_of = table
        touched = np.unique(idx[idx < table.measured])
        marks = table.watermark[touched]
        moved = np.isfinite(marks) & (marks > self._saved_marks[touched])
        touched, marks = touched[moved], marks[moved]
        self._saved_marks[touched] = marks  # kept in `_unsaved` until a save succeeds
        # Series sampled at one instant share a watermark: make each datetime once.
        stamps = {t: datetime.fromtimestamp(t, UTC) for t in set(marks.tolist())}
        keys = table.keys
        return {keys[i]: stamps[t] for i, t in zip(touched.tolist(), marks.tolist(),
                                                   strict=True)}

    def _derived_rows(self) -> DerivedRows | None:
        """Heat power of the last evaluation, for ingest's store (which keeps the series
        its series table holds as derived)."""
        idx, t_s, v = self.engine.last_derived
        if idx.size == 0:
            return None
        keys = self.engine.table.keys
        return ([keys[i] for i in idx.tolist()],
                [datetime.fromtimestamp(x, UTC) for x in t_s.tolist()], v.tolist())

    async def commit_evaluation(self, findings: Sequence[Finding], idx: np.ndarray,
                                fence: Fence | None = None) -> None:
        """Save what the engine just evaluated for the readings of ``idx`` (their
        watermarks and the heat power it derived) with its findings, then offer them."""
        await self.commit(findings, self._watermarks(idx), self._derived_rows(), fence)

    async def commit(self, findings: Sequence[Finding], watermarks: Mapping[str, datetime],
                     derived: DerivedRows | None = None, fence: Fence | None = None) -> None:
        """Save findings and watermarks in one transaction (kept in order while the
        database is away), then hand the findings to the sink."""
        if findings or watermarks or derived or fence is not None:
            self._unsaved.append((list(findings), dict(watermarks), derived, fence))
        for f in findings:  # transitions are few: each is worth a line
            self.metrics.findings.labels(f.kind, f.state).inc()
            log.info("finding %s on %s: %s -> %s at %s%s", f.rule_id, f.series,
                     f.previous_state, f.state, f.ts.isoformat(), " (late)" if f.late else "")
        if await self._save():
            await self.hand_over()

    async def _save(self) -> bool:
        """Save what waits, oldest first; False while the database is unreachable."""
        while self._unsaved:
            findings, watermarks, derived, fence = self._unsaved[0]
            try:
                ids, stored = await self.store.save(findings, watermarks, derived, fence)
            except LostPartitions as lost:
                # Another replica holds them now and goes on from what was saved: what
                # this one evaluated since is dropped (the feed starts again from the
                # database for what it still holds).
                self._unsaved.clear()
                self._saved_marks = None  # what was dropped is to be saved again
                if self.feed is not None:
                    self.feed.lost(lost.partitions)
                log.warning("%s; dropped what was evaluated since the last save", lost)
                return True
            except Exception as exc:
                if self.is_outage(exc):
                    return False
                raise
            self._unsaved.pop(0)
            if self.store.derived is not None:
                # Committed: the heat power reaches the live hub and accounting like any
                # reading; not this monitor, which computed it (its input is what was
                # measured: told its own output it would only count it as already seen).
                self.store.derived.committed(stored, origin=self.observer)
            self._unsent.extend(zip(ids, findings, strict=True))
        return True

    def is_outage(self, exc: Exception) -> bool:
        """True for a database outage, which the storage health logs once."""
        return self.storage is not None and self.storage.failed(exc, "monitor")

    def restart_from(self, engine: Engine, unsent: list[tuple[int, Finding]]) -> None:
        """Go on with ``engine`` (rebuilt from what is saved): what was evaluated and not
        saved belongs to the engine it replaces; ``unsent`` are saved findings still to
        offer."""
        self._unsaved.clear()
        self.engine = engine
        self.offer_saved(unsent)

    def offer_saved(self, unsent: list[tuple[int, Finding]]) -> None:
        """Findings saved and not handed over (by this process or one before it), as the
        store has them: offered at the next `hand_over`."""
        self._unsent = unsent

    async def hand_over(self) -> None:
        """Offer the saved findings not yet taken by the sink."""
        if not self._unsent:
            return
        try:
            await self.sink.findings([f for _, f in self._unsent])
        except Exception as exc:
            self.metrics.handover_failures.inc()
            if not self.is_outage(exc):
                log.warning("finding sink failed; %d findings wait for the next attempt",
                            len(self._unsent), exc_info=True)
            return
        try:
            await self.store.mark_handed_over([i for i, _ in self._unsent], self.clock.now())
        except Exception as exc:
            if self.is_outage(exc):
                return  # handed over again later: the sink takes a finding twice as once
            raise
        self._unsent.clear()

    # -- rules ---------------------------------------------------------------------------

    def visible_series(self, org: str) -> frozenset[str]:
        """Series whose findings ``org`` may read (the service's one access policy)."""
        return self.index.visible_series(org)

    def derived_power_keys(self) -> frozenset[str]:
        return frozenset(d.key for d in self.cluster.derived)

    def rules(self) -> list[VersionedRule]:
        return list(self._rules.values())

    def rule(self, rule_id: str) -> VersionedRule:
        return self._rules[rule_id]

    def follow_rules(self, latest: Sequence[VersionedRule]) -> list[VersionedRule]:
        """Run the newer of ``latest`` (changed through another replica) from now on;
        the ones that were newer."""
        changed = [r for r in latest if r.spec.id in self._rules
                   and self._rules[r.spec.id].version < r.version]
        for rule in changed:
            self._rules[rule.spec.id] = rule
        if changed:
            self.engine.set_rules(self.rules())
        return changed

    def may_see_rule(self, rule: VersionedRule, org: str) -> bool:
        """A company sees the rules it owns and those on series it may read (its own
        assets' and what its exchanges share with it); the facilitator sees every rule."""
        return rule.spec.owner == org or rule.spec.series in self.visible_series(org)

    async def change_rule(self, rule_id: str, changes: Mapping[str, Any], by_org: str,
                          reason: str | None = None, actor: str | None = None
                          ) -> VersionedRule:
        """A new version of a rule, by its owner, inside the series' physical range and the
        cluster file's hard limits; the engine runs it from the next reading."""
        current = self._rules[rule_id]  # KeyError: no such rule
        if current.spec.owner != by_org:
            raise NotOwner(f"rule {rule_id!r} belongs to {current.spec.owner!r}; "
                           "only its owner may change it")
        fixed = sorted(FIXED_FIELDS & changes.keys())
        if fixed:
            raise RuleChangeError(f"{', '.join(fixed)} cannot be changed here: they are "
                                  "fixed in the cluster file")
        try:
            new_spec = parse_spec({**spec_json(current.spec), **changes})
        except ValueError as exc:
            raise RuleChangeError(str(exc)) from exc
        info = self.index.series.get(new_spec.series)
        span = None if info is None or info.range_min is None or info.range_max is None \
            else (info.range_min, info.range_max)
        problems = rule_problems(new_spec, span, self._hard_limits.get(new_spec.series))
        if problems:
            raise RuleChangeError("; ".join(problems))
        changed = await self.store.change_rule(new_spec, by_org, self.clock.now(), reason, actor)
        self._rules[rule_id] = changed
        self.engine.set_rules(self.rules())
        log.info("rule %s changed to version %d by %s (%s): %s", rule_id, changed.version,
                 actor or by_org, reason, changes)
        return changed


async def start_monitor(pool: asyncpg.Pool, cluster: Cluster, clock: Clock, sink: FindingSink,
                        *, config: EngineConfig | None = None, tick_s: float = 10.0,
                        catch_up_limit_s: float = 86_400.0,
                        registry: CollectorRegistry | None = None,
                        storage: StorageHealth | None = None,
                        derived: DerivedReadings | None = None) -> MonitorRuntime:
    """Restore, catch up and start the monitor; call `MonitorRuntime.stop` on shutdown.

    Readings stored while the monitor was stopped are evaluated on start, at most
    ``catch_up_limit_s`` of them back from now (a series silent for months must not make
    a start read months of readings). Metrics go to ``registry`` (the app's own). Heat
    power goes into ingest's store through ``derived`` (the app's: `IngestService.
    derived_readings`, whose observers hear of it); without it, into the same store with
    no observer to tell.
    """
    store = MonitorStore(pool, derived or await DerivedReadings.of(pool))
    now = clock.now()
    rules = await store.sync_rules(cluster.rules, now)
    engine = Engine(plan_from_cluster(cluster), rules, now.timestamp(), config)
    for st in await store.latest_states():
        engine.restore_state(st.rule_id, State[st.state.upper()], st.since_ts.timestamp(),
                             st.reference_value)
    runtime = MonitorRuntime(engine, store, sink, clock, cluster, rules, tick_s,
                             MonitorMetrics(registry), storage)
    await _catch_up(runtime, store, engine, now.timestamp() - catch_up_limit_s)
    runtime.offer_saved(await store.not_handed_over())
    await runtime.hand_over()
    runtime.start()
    return runtime


async def _catch_up(runtime: MonitorRuntime, store: MonitorStore, engine: Engine,
                    not_before_s: float) -> None:
    """Warm history with readings already evaluated; evaluate those stored after."""
    marks = await store.watermarks()
    if not marks:
        return  # first start: the monitor begins with the readings to come
    keep_s = float(engine.table.history.keep_s.max(initial=0.0)) + 60.0
    since_s = max(min(m.timestamp() for m in marks.values()) - keep_s, not_before_s)
    since = datetime.fromtimestamp(since_s, UTC)
    rows = await store.readings_since(since)
    index = engine.table.index
    known = [r for r in rows if r["key"] in index]
    if not known:
        return
    idx = np.array([index[r["key"]] for r in known], dtype=np.int64)
    t_s = np.array([r["ts"].timestamp() for r in known])
    v = np.array([r["value"] for r in known])
    q = np.array([r["quality"] for r in known], dtype=np.int8)
    mark = np.array([marks[r["key"]].timestamp() if r["key"] in marks else -np.inf
                     for r in known])
    seen = t_s <= mark
    engine.process(idx[seen], t_s[seen], v[seen], q[seen], now_s=t_s.max(), evaluate=False)
    findings = engine.process(idx[~seen], t_s[~seen], v[~seen], q[~seen],
                              now_s=runtime.clock.now().timestamp())
    await runtime.commit_evaluation(findings, idx[~seen])
    log.info("monitor restart: warmed up on %d readings, evaluated %d stored while stopped",
             int(seen.sum()), int((~seen).sum()))
