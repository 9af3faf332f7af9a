"""The monitor when several replicas share the work (HEATLINK_MONITOR_PARTITIONS > 0).

Series are divided into partitions (`partitions.py`), held by lease (`lease.py`). A
replica evaluates only the partitions it holds, from the inbox ingest writes in each
batch's transaction, whichever replica stored the batch: the rows of transactions below
the database's xmin, taken from each partition's saved horizon up to the current one, in
transaction order (a gateway's next batch starts after its last one committed, so a
series' readings come in their order). Findings, watermarks and the horizon are saved in
one transaction fenced on the partitions' epochs (`fence.py`).

When the partitions held change, the engine is built again from what the monitor
persists, as at a restart: the rules' last states, history warmed from readings already
evaluated (up to each series' watermark), each partition's inbox from its saved horizon.
What was evaluated and not yet saved is dropped: whoever holds the partition evaluates it
again from the saved horizon, so nothing is lost or repeated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import asyncpg
import numpy as np
from prometheus_client import CollectorRegistry

from heatlink.aio import cancel_and_wait
from heatlink.clock import Clock
from heatlink.cluster.model import Cluster
from heatlink.findings import Finding, FindingSink, State
from services.ingest.derived import DerivedReadings
from services.monitor.engine import Engine
from services.monitor.fence import Fence
from services.monitor.group import VersionedRule
from services.monitor.inbox import HeldSeries
from services.monitor.lease import PartitionLease, query
from services.monitor.metrics import MonitorMetrics
from services.monitor.partitions import partition_map
from services.monitor.plan import Plan, plan_from_cluster
from services.monitor.runtime import MonitorRuntime
from services.monitor.settings import EngineConfig
from services.monitor.store import MonitorStore, parse_spec
from services.monitor.wake import WakeObserver, listen
from services.readings import store as readings
from services.storage.health import StorageHealth

log = logging.getLogger(__name__)

TRIM_EVERY_S = 60.0


class PartitionedFeed:
    def __init__(self, runtime: MonitorRuntime, lease: PartitionLease, plan: Plan,
                 partitions: int, config: EngineConfig | None, poll_s: float,
                 database_url: str | None = None) -> None:
        self.runtime = runtime
        self.database_url = database_url
        self.lease = lease
        self.plan = plan
        self.config = config
        self.poll_s = poll_s
        self.partition_of = partition_map(runtime.cluster, plan, partitions)
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        # Under the partitions held: epoch of each, inbox horizon of each.
        self.epochs: dict[int, int] = {}
        self.done: dict[int, int] = {}
        self.held = HeldSeries(np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._series_ids: dict[str, int] = {}
        self._next_trim = 0.0
        self._rule_versions = -1  # rows of monitor_rule_versions when last looked

    # -- lifecycle -----------------------------------------------------------------------

    async def prepare(self) -> None:
        self._series_ids = await readings.series_ids(self.runtime.store.pool)
        await self.lease.start()
        await self._rebuild()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="heatlink-monitor-partitioned")
        if self.database_url is not None:
            self._listener = asyncio.create_task(listen(self.database_url, self.wake),
                                                 name="heatlink-monitor-wake")

    async def stop(self) -> None:
        for task in (self._listener, self._task):
            if task is not None:
                await cancel_and_wait(task)
        self._task = self._listener = None
        await self.lease.stop()

    async def flush(self) -> None:
        """Evaluate the inbox as it stands now."""
        async with self._lock:
            await self._poll()

    async def tick(self) -> None:
        async with self._lock:
            await self._tick()

    def lost(self, partitions: set[int]) -> None:
        self.lease.lost(partitions)

    async def _run(self) -> None:
        next_tick = asyncio.get_running_loop().time() + self.runtime.tick_s
        while True:
            try:
                async with asyncio.timeout(self.poll_s):
                    await self.wake.wait()
            except TimeoutError:
                pass
            self.wake.clear()
            try:
                async with self._lock:
                    if self.lease.changed.is_set():
                        self.lease.changed.clear()
                        await self._rebuild()
                    await self._poll()
                    await self.runtime.hand_over()
                    if asyncio.get_running_loop().time() >= next_tick:
                        next_tick = asyncio.get_running_loop().time() + self.runtime.tick_s
                        await self._tick()
            except Exception as exc:  # a bug or an outage must not stop the monitor
                if not self.runtime.is_outage(exc):  # an outage is logged once, by its health
                    log.exception("partitioned monitor failed; starting again from the "
                                  "database")
                self.lease.changed.set()
                await asyncio.sleep(self.poll_s)

    # -- held partitions -----------------------------------------------------------------

    def _held(self, key: str) -> bool:
        return self.partition_of.get(key, -1) in self.epochs

    async def _rebuild(self) -> None:
        """The engine for the partitions held now, from what the monitor persists."""
        rt, store = self.runtime, self.runtime.store
        began = time.perf_counter()
        self.epochs = dict(self.lease.owned)
        now = rt.clock.now()
        engine = Engine(self.plan, rt.rules(), now.timestamp(), self.config)
        for st in await store.latest_states():
            engine.restore_state(st.rule_id, State[st.state.upper()], st.since_ts.timestamp(),
                                 st.reference_value)
        rows = await rt.store.pool.fetch(query("inbox_done"), list(self.epochs))
        self.done = {r["partition"]: r["done"] for r in rows}
        index = engine.table.index
        by_id = np.full(max(self._series_ids.values(), default=0) + 1, -1, np.int64)
        for key, sid in self._series_ids.items():
            if key in index and self._held(key):
                by_id[sid] = index[key]
        self.held = HeldSeries(by_id, np.array(
            [self.partition_of.get(k, -1) for k in engine.table.keys], np.int64))
        restored = time.perf_counter()
        warmed = await self._warm_up(engine)
        # Saved and not yet handed over (by this replica or the one before): offered after
        # the next poll, so the inbox waiting since the takeover goes first.
        rt.restart_from(engine, [(i, f) for i, f in await store.not_handed_over()
                                 if self._held(f.series)])
        log.info("monitor evaluates partitions %s (epochs %s), built in %.2f s (%d readings "
                 "of history in %.2f s)", sorted(self.epochs), self.epochs,
                 time.perf_counter() - began, warmed, time.perf_counter() - restored)

    async def _warm_up(self, engine: Engine) -> int:
        """History and last values of the held series from readings already evaluated."""
        marks = {k: m for k, m in (await self.runtime.store.watermarks()).items()
                 if self._held(k)}
        if not marks:
            return 0
        history = engine.table.history
        keep_s = float(history.keep_s.max(initial=0.0)) + 60.0
        index = engine.table.index
        keys = list(marks)
        rows = await self.runtime.store.pool.fetch(
            query("warm_up"), keys, [marks[k] for k in keys], keep_s, history.capacity)
        if not rows:
            return 0
        idx = np.concatenate([np.full(len(r["t_s"]), index[r["key"]], np.int64) for r in rows])
        t_s = np.concatenate([np.asarray(r["t_s"], np.float64) for r in rows])
        v = np.concatenate([np.asarray(r["value"], np.float64) for r in rows])
        q = np.concatenate([np.asarray(r["quality"], np.int8) for r in rows])
        order = np.argsort(t_s, kind="stable")
        engine.process(idx[order], t_s[order], v[order], q[order], now_s=float(t_s.max()),
                       evaluate=False)
        return int(t_s.size)

    # -- evaluation ----------------------------------------------------------------------

    def _fence(self, horizon: int) -> Fence:
        return Fence(self.lease.replica, dict(self.epochs), horizon)

    async def _poll(self) -> None:
        if not self.epochs:
            return
        rt = self.runtime
        pool = rt.store.pool
        horizon = await pool.fetchval(query("inbox_horizon"))
        # After the horizon: a reading stored after a rule changed (below the horizon, so
        # committed before it was taken) is judged by the new version.
        await self._follow_rules()
        start = min(self.done.values())
        if horizon <= start:
            return
        began = time.perf_counter()
        rows = await pool.fetch(query("inbox_rows"), str(start), str(horizon))
        fetched = time.perf_counter()
        if rows:
            idx, t_s, v, q = self.held.arrays(rows, self.done)
            engine = rt.engine
            findings = self._mine(engine.process(idx, t_s, v, q,
                                                 now_s=rt.clock.now().timestamp()))
            await rt.commit_evaluation(findings, idx, self._fence(horizon))
            rt.metrics.readings.labels("evaluated").inc(idx.size)
            if time.perf_counter() - began > 0.5:
                log.info("monitor inbox: %d rows, %d readings of held partitions, fetched in "
                         "%.2f s, evaluated and saved in %.2f s", len(rows), idx.size,
                         fetched - began, time.perf_counter() - fetched)
        self.done = dict.fromkeys(self.done, horizon)
        loop_now = asyncio.get_running_loop().time()
        if loop_now >= self._next_trim:
            self._next_trim = loop_now + TRIM_EVERY_S
            if not rows:  # save the horizon, so the inbox can be trimmed
                await rt.commit([], {}, None, self._fence(horizon))
            await pool.execute(query("inbox_trim"), self.lease.partitions)

    def _mine(self, findings: list[Finding]) -> list[Finding]:
        """Staleness is judged for every series of the engine; only the held count."""
        return [f for f in findings if self._held(f.series)]

    async def _follow_rules(self) -> None:
        """Rules changed through other replicas, looked at before each read of the inbox:
        readings stored after a change are judged by the new version wherever they were
        stored, as on the replica that took the change."""
        rt = self.runtime
        versions = await rt.store.pool.fetchval(query("rule_versions_count"))
        if versions == self._rule_versions:
            return
        self._rule_versions = versions
        changed = rt.follow_rules([
            VersionedRule(parse_spec(json.loads(r["spec"])), r["version"])
            for r in await rt.store.pool.fetch(query("latest_rules"))])
        if not changed:
            return
        log.info("rules changed elsewhere now run here: %s",
                 ", ".join(f"{r.spec.id} v{r.version}" for r in changed))

    async def _tick(self) -> None:
        if not self.epochs:
            return
        rt = self.runtime
        findings = self._mine(rt.engine.tick(rt.clock.now().timestamp()))
        if findings:
            horizon = min(self.done.values())
            await rt.commit(findings, {}, None, self._fence(horizon))


async def start_partitioned_monitor(pool: asyncpg.Pool, cluster: Cluster, clock: Clock,
                                    sink: FindingSink, *, partitions: int, lease_s: float,
                                    database_url: str | None = None,
                                    config: EngineConfig | None = None, tick_s: float = 10.0,
                                    poll_s: float = 0.2,
                                    registry: CollectorRegistry | None = None,
                                    storage: StorageHealth | None = None,
                                    derived: DerivedReadings | None = None) -> MonitorRuntime:
    """A monitor that evaluates the partitions this replica holds; ``runtime.stop`` gives
    them back. Heat power goes through ingest's store as in `start_monitor`."""
    store = MonitorStore(pool, derived or await DerivedReadings.of(pool))
    now = clock.now()
    rules = await store.sync_rules(cluster.rules, now)
    plan = plan_from_cluster(cluster)
    engine = Engine(plan, rules, now.timestamp(), config)
    runtime = MonitorRuntime(engine, store, sink, clock, cluster, rules, tick_s,
                             MonitorMetrics(registry), storage)
    feed = PartitionedFeed(runtime, PartitionLease(pool, partitions, lease_s), plan,
                           partitions, config, poll_s, database_url)
    runtime.feed = feed
    runtime.observer = WakeObserver(feed.wake)  # type: ignore[assignment]
    await feed.prepare()
    runtime.start()
    return runtime
