"""Issue 17, item 2: the partitioned monitor, on real `heatlink serve` processes sharing one
database (HEATLINK_MONITOR_PARTITIONS): readings that reach any replica are evaluated once,
by the replica holding their partition, and a killed holder's partitions move on."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml

from heatlink.cluster.loader import EXAMPLE_CLUSTER, load_cluster
from services.access.principal import Role
from services.monitor.partitions import partition_map
from services.monitor.plan import plan_from_cluster
from tests.control.support import GATEWAY, TEMP, until
from tests.dashboard.sse import messages
from tests.support.service import ServiceProcess, make_token

pytestmark = pytest.mark.slow

PARTITIONS = 8
BREACH = 19.0  # tank1-band: above 16.0 for 30 s (source time) is a breach
RULE = "tank1-band"
ENV = {"HEATLINK_MONITOR_PARTITIONS": str(PARTITIONS),
       # Deliveries are counted in the outbox, not sent: nothing listens at the addresses.
       "HEATLINK_ALERTS_RUN_WORKER": "false"}


def test_series_evaluated_together_share_a_partition() -> None:
    cluster = load_cluster(EXAMPLE_CLUSTER)
    plan = plan_from_cluster(cluster)
    where = partition_map(cluster, plan, PARTITIONS)
    for d in cluster.derived:
        assert where[d.key] == where[d.flow] == where[d.temp_in] == where[d.temp_out]
    rule_series = {r.id: r.series for r in cluster.rules}
    for rule_id, model in plan.recipients.items():
        for upstream, _ in model.upstream:
            assert where[rule_series[upstream]] == where[rule_series[rule_id]]
    # Staleness runs on each site's clock: a site is never split.
    sites: dict[str, set[int]] = {}
    for key, p in where.items():
        sites.setdefault(key.split("/", 1)[0], set()).add(p)
    assert all(len(ps) == 1 for ps in sites.values()), sites
    # Unrelated sites land where their hash puts them, the same in every process.
    assert partition_map(cluster, plan, PARTITIONS) == where


@pytest.fixture
def cluster_path(tmp_path: Path) -> Path:
    doc = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
async def db(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def send(process: ServiceProcess, token: str, ts: datetime, value: float,
               resent: datetime | None = None) -> None:
    """A reading of the tank; with ``resent`` the reading at that time again in the same
    batch (a gateway replaying under a new batch id: stored through staging)."""
    readings = [{"series": TEMP, "ts": t.isoformat(), "value": value}
                for t in ([resent] if resent else []) + [ts]]
    async with httpx.AsyncClient(base_url=process.url, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as gw:
        answer = await gw.post("/v1/ingest", json={
            "gateway": GATEWAY, "batch_id": uuid.uuid4().hex, "readings": readings})
    assert answer.status_code == 200, answer.text
    assert answer.json()["duplicates"] == (1 if resent else 0)


async def until_evaluated(db: asyncpg.Pool, ts: datetime, timeout_s: float = 30.0) -> None:
    """Until the monitor's watermark of the tank covers ``ts``: every reading sent before
    it is evaluated and saved."""
    async def covered() -> bool:
        mark = await db.fetchval("SELECT ts FROM monitor_watermarks WHERE series = $1", TEMP)
        return mark is not None and mark >= ts
    await until(covered, f"the tank's readings up to {ts} evaluated", timeout_s)


async def until_handed_over(db: asyncpg.Pool) -> None:
    async def done() -> bool:
        return bool(await db.fetchval(
            "SELECT count(*) > 0 AND bool_and(handed_over_at IS NOT NULL)"
            " FROM monitor_findings WHERE rule_id = $1", RULE))
    await until(done, "the breach handed over to the alerts")


async def assert_one_finding_and_one_alert_per_recipient(db: asyncpg.Pool) -> None:
    findings = await db.fetch("SELECT state, ts FROM monitor_findings WHERE rule_id = $1",
                              RULE)
    assert [f["state"] for f in findings] == ["high"], findings
    per_recipient = await db.fetch(
        "SELECT d.org, d.contact, d.channel, d.address, count(*) AS n FROM alert_deliveries d"
        " JOIN alerts a ON a.id = d.alert_id WHERE a.rule_id = $1 GROUP BY 1, 2, 3, 4", RULE)
    assert per_recipient, "no recipient was told"
    assert {r["n"] for r in per_recipient} == {1}, per_recipient
    alerts = await db.fetch("SELECT org, count(*) AS n FROM alerts WHERE rule_id = $1"
                            " GROUP BY org", RULE)
    assert {r["n"] for r in alerts} == {1}, alerts


async def test_a_breach_arriving_alternately_through_two_replicas_is_one_finding(
        fresh_database_url: str, cluster_path: Path, db: asyncpg.Pool) -> None:
    token = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                             gateway=GATEWAY)
    replicas = [ServiceProcess(fresh_database_url, cluster_file=cluster_path, env=ENV)
                for _ in range(2)]
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in replicas))
        now = datetime.now(UTC).replace(microsecond=0)
        times = [now - timedelta(seconds=s) for s in (90, 60, 30, 0)]
        # Each half alone would hold the breach for 30 s only at its last reading: one
        # monitor per replica would raise it at different times (two alarms), or, with a
        # longer delay, never. One holder sees every reading.
        for n, ts in enumerate(times):
            # The third comes with the second again, through the other replica.
            await send(replicas[n % 2], token, ts, BREACH, times[1] if n == 2 else None)
        await until_evaluated(db, times[-1])
        await until_handed_over(db)
        await assert_one_finding_and_one_alert_per_recipient(db)
        ts = await db.fetchval("SELECT ts FROM monitor_findings WHERE rule_id = $1", RULE)
        assert ts == times[1]  # 30 s above the band from the first reading: on_delay_s met
    finally:
        for process in replicas:
            await asyncio.to_thread(process.stop)


async def started_sharing(db: asyncpg.Pool, replicas: list[ServiceProcess],
                          partition: int) -> tuple[ServiceProcess, str]:
    """Start the replicas and wait until each holds partitions; the one holding
    ``partition``, and its owner name."""
    await asyncio.gather(*(asyncio.to_thread(p.start) for p in replicas))

    async def shared() -> bool:
        return bool(await db.fetchval(
            "SELECT count(DISTINCT owner) = $1 AND bool_and(owner IS NOT NULL)"
            " FROM monitor_partitions", len(replicas)))
    await until(shared, f"the {len(replicas)} replicas share the partitions")
    owner: str = await db.fetchval(
        "SELECT owner FROM monitor_partitions WHERE partition = $1", partition)
    pid = int(owner.rsplit("-", 2)[1])  # <host>-<pid>-<random>
    holder = next(p for p in replicas if p.process is not None and p.process.pid == pid)
    return holder, owner


async def test_killing_the_holder_during_a_breach_loses_and_repeats_nothing(
        fresh_database_url: str, cluster_path: Path, db: asyncpg.Pool) -> None:
    token = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                             gateway=GATEWAY)
    farm_token = await make_token(fresh_database_url, "fjordsmolt", Role.RECIPIENT)
    replicas = [ServiceProcess(fresh_database_url, cluster_file=cluster_path, env=ENV)
                for _ in range(3)]
    watcher_ready = asyncio.Event()

    async def tank_values_streamed(process: ServiceProcess, bearer: str,
                                   times: list[datetime]) -> list[datetime]:
        """The tank's timestamps a live stream on ``process`` receives, until all of
        ``times`` came (or the caller's timeout)."""
        seen: list[datetime] = []
        async with httpx.AsyncClient(base_url=process.url, timeout=None,
                                     headers={"Authorization": f"Bearer {bearer}"}) as farm, \
                farm.stream("GET", "/v1/stream", params={"series": TEMP}) as response:
            stream = messages(response)
            assert (await anext(stream)).event == "hello"
            watcher_ready.set()
            async for message in stream:
                assert message.event != "gap", message.data
                if message.event == "values":
                    seen += [datetime.fromisoformat(v["ts"]) for v in message.data["values"]
                             if v["series"] == TEMP]
                if set(times) <= set(seen):
                    return seen
        return seen
    cluster = load_cluster(cluster_path)
    partition = partition_map(cluster, plan_from_cluster(cluster), PARTITIONS)[TEMP]

    async def holder() -> str | None:
        owner: str | None = await db.fetchval(
            "SELECT owner FROM monitor_partitions WHERE partition = $1"
            " AND lease_until > now()", partition)
        return owner

    try:
        victim, owner = await started_sharing(db, replicas, partition)
        others = [p for p in replicas if p is not victim]
        now = datetime.now(UTC).replace(microsecond=0)
        times = [now - timedelta(seconds=s) for s in (90, 60, 30, 0)]
        # The farm watches its tank live on a survivor the whole time.
        watcher = asyncio.create_task(tank_values_streamed(others[1], farm_token, times))
        await watcher_ready.wait()
        # The breach starts through the survivors and is raised by the holder ...
        await send(others[0], token, times[0], BREACH)
        await send(others[1], token, times[1], BREACH)
        await until_evaluated(db, times[1])
        # ... which is killed at once: its finding may not have reached the alerts yet.
        await asyncio.to_thread(victim.kill)
        killed_at = asyncio.get_running_loop().time()
        # The breach goes on through the survivors while nobody holds the partition.
        await send(others[0], token, times[2], BREACH)
        await send(others[1], token, times[3], BREACH)

        async def moved() -> bool:
            now_holder = await holder()
            return now_holder is not None and now_holder != owner
        await until(moved, "the killed holder's partition taken over", timeout_s=10)
        await until_evaluated(db, times[3])
        took = asyncio.get_running_loop().time() - killed_at
        assert took < 30  # the readings sent meanwhile were evaluated by the new holder
        await until_handed_over(db)
        await assert_one_finding_and_one_alert_per_recipient(db)
        orphans = await db.fetchval(
            "SELECT count(*) FROM monitor_partitions WHERE owner IS NULL"
            " OR lease_until < now()")
        assert orphans == 0
        # The stream on the survivor missed none of the breach's readings, whichever
        # replica took them in.
        async with asyncio.timeout(30):
            assert await watcher == times
    finally:
        for process in replicas:
            await asyncio.to_thread(process.stop)


async def test_a_frozen_holder_that_thaws_is_fenced_off(
        fresh_database_url: str, cluster_path: Path, db: asyncpg.Pool) -> None:
    """SIGSTOP: the holder keeps its engine and its in-memory place in the inbox but renews
    nothing. The other replica takes the partition over and raises the breach; the thawed
    one goes on evaluating the same readings, and its save is refused by the fence."""
    token = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                             gateway=GATEWAY)
    replicas = [ServiceProcess(fresh_database_url, cluster_file=cluster_path, env=ENV)
                for _ in range(2)]
    cluster = load_cluster(cluster_path)
    partition = partition_map(cluster, plan_from_cluster(cluster), PARTITIONS)[TEMP]
    try:
        frozen, owner = await started_sharing(db, replicas, partition)
        other = next(p for p in replicas if p is not frozen)
        now = datetime.now(UTC).replace(microsecond=0)
        times = [now - timedelta(seconds=s) for s in (90, 60, 30, 0)]
        await send(other, token, times[0], BREACH)
        await until_evaluated(db, times[0])
        assert frozen.process is not None
        frozen.process.send_signal(signal.SIGSTOP)
        try:
            await send(other, token, times[1], BREACH)

            async def taken() -> bool:
                return bool(await db.fetchval(
                    "SELECT owner <> $2 FROM monitor_partitions WHERE partition = $1",
                    partition, owner))
            await until(taken, "the frozen holder's partition taken over", timeout_s=20)
            await until_evaluated(db, times[1])
        finally:
            frozen.process.send_signal(signal.SIGCONT)
        # Thawed: its loop runs on with what it held; the breach goes on through both.
        await send(frozen, token, times[2], BREACH)
        await send(other, token, times[3], BREACH)
        await until_evaluated(db, times[3])
        await until_handed_over(db)
        await assert_one_finding_and_one_alert_per_recipient(db)
    finally:
        for process in replicas:
            await asyncio.to_thread(process.stop)


async def test_a_rule_changed_through_another_replica_judges_the_next_readings(
        fresh_database_url: str, cluster_path: Path, db: asyncpg.Pool) -> None:
    """The farm tightens its tank band through the replica that does not hold the tank's
    partition; readings stored after the change are judged by the new version."""
    token = await make_token(fresh_database_url, "glomfjord-smelter", Role.GATEWAY,
                             gateway=GATEWAY)
    operator = await make_token(fresh_database_url, "fjordsmolt", Role.OPERATOR)
    replicas = [ServiceProcess(fresh_database_url, cluster_file=cluster_path, env=ENV)
                for _ in range(2)]
    cluster = load_cluster(cluster_path)
    partition = partition_map(cluster, plan_from_cluster(cluster), PARTITIONS)[TEMP]
    try:
        holder, _ = await started_sharing(db, replicas, partition)
        elsewhere = next(p for p in replicas if p is not holder)
        async with httpx.AsyncClient(base_url=elsewhere.url, timeout=30, headers={
                "Authorization": f"Bearer {operator}"}) as farm:
            changed = await farm.patch(f"/v1/rules/{RULE}", json={
                "changes": {"high": 14.0}, "reason": "smolt sorting this week"})
        assert changed.status_code == 200, changed.text
        assert changed.json()["version"] == 2
        now = datetime.now(UTC).replace(microsecond=0)
        times = [now - timedelta(seconds=s) for s in (60, 30, 0)]
        for ts in times:  # above the new limit, under the old one
            await send(elsewhere, token, ts, 15.0)
        await until_evaluated(db, times[-1])
        found = await db.fetch("SELECT rule_version, state FROM monitor_findings"
                               " WHERE rule_id = $1", RULE)
        assert [(f["rule_version"], f["state"]) for f in found] == [(2, "high")]
    finally:
        for process in replicas:
            await asyncio.to_thread(process.stop)
