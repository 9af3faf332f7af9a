"""`ControlRuntime`: ramps in memory, their state and audit in the database, commands out
and results in over the command bus.

One lock serialises every change of a ramp with its database write, so a result and a
tick never interleave. Commands go out numbered and signed with the service's key; a result
counts only when signed by a key of the gateway that was sent the command, anything else is
dropped, counted by reason and audited for the facilitator.

The runner wakes on every result (the next step goes out at once) and otherwise every
``tick_s`` wall seconds; what is due is decided by the injected clock.

Replicas: a live ramp has one holder at a time, by a lease in ``control_ramps`` renewed on
the database's clock every third of ``lease_s``. Every write of a ramp, and the command it
sends (in the same transaction, sent only after the commit), is fenced on the holder, so a
replica that lost a ramp writes and sends nothing more for it. When a holder stops renewing
(it died, froze, lost the database), another replica takes the ramp over *held*, audited
"owner lost": the dead holder may have a step in flight that the plant can still apply
until the command's expiry (the gateway refuses it after), so continuing at once would plan
from a value the plant may be leaving; an operator resumes it, which re-plans from the last
confirmed value, on any replica. Every replica hears every result on its own MQTT session;
the holder acts on it, the others leave results of ramps held elsewhere alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from alerts import history as alert_history
from alerts.alarms import Alarms
from heatlink.aio import cancel_and_wait, raise_if_cancel_requested, wait_event
from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.model import WritablePoint
from heatlink.cluster.rule_spec import RampRule
from heatlink.commands import CommandResult, open_result, sign_command
from heatlink.signing import SignatureError
from services.control import store
from services.control.alarm import ReadbackAlarm
from services.control.bus import CommandBus
from services.control.keys import ControlKeys, load_keys
from services.control.metrics import ControlMetrics
from services.control.plan import RampPlan, StartError, check_target, plan_ramp
from services.control.ramp import Event, Ramp, RampStatus
from services.control.store import RampLost
from services.monitor.runtime import MonitorRuntime
from services.readings import store as readings
from services.settings import ControlSettings
from services.storage.health import StorageHealth

log = logging.getLogger(__name__)


class ControlUnavailable(RuntimeError):
    """No command broker is configured."""


@dataclass(frozen=True)
class Actor:
    org: str
    name: str

    def __str__(self) -> str:
        return f"{self.org}/{self.name}"


class ControlRuntime:
    def __init__(self, pool: asyncpg.Pool, index: ClusterIndex, clock: Clock,
                 rules: MonitorRuntime, alarms: Alarms, settings: ControlSettings,
                 bus: CommandBus | None, metrics: ControlMetrics | None = None,
                 storage: StorageHealth | None = None, keys: ControlKeys | None = None) -> None:
        self.pool = pool
        self.index = index
        self.clock = clock
        self.rules = rules  # the monitor runtime: rules change at run time (PATCH /v1/rules)
        self.alarm = ReadbackAlarm(alarms)
        self.settings = settings
        self.bus = bus
        self.metrics = metrics or ControlMetrics()
        self.storage = storage
        self.keys = keys or load_keys(settings)
        self.points = {p.key: p for p in index.cluster.writable_points}
        self.ramps: dict[int, Ramp] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # The lease holder's name: the replica's, and this process start's own, so a
        # restarted replica never passes for the process that held a ramp before it.
        self.holder = f"{replica_name(settings)}/{secrets.token_hex(4)}"

    # ---- life cycle
    async def start(self) -> None:
        await self.leases()
        if self.bus is not None:
            self.bus.start()
            self._tasks.append(asyncio.create_task(self._results(), name="control results"))
        self._tasks.append(asyncio.create_task(self._runner(), name="control runner"))
        self._tasks.append(asyncio.create_task(self._lease_loop(), name="control leases"))

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        if self.bus is not None:
            await self.bus.stop()

    # ---- leases
    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            try:
                await self.leases()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not self._outage(exc):
                    log.exception("control: leases not renewed; trying again")

    async def leases(self) -> None:
        """Renew the leases of the ramps held here, forget those lost, and take over (held)
        the live ramps whose holder stopped renewing."""
        async with self._lock, self.pool.acquire() as conn:
            mine = [r.id for r in self.ramps.values() if r.status.live]
            kept = await store.renew_leases(conn, mine, self.holder, self.settings.lease_s)
            for ramp_id in set(mine) - kept:
                self._forget(ramp_id)
            async with conn.transaction():
                now = self.clock.now()
                for row in await store.take_over_lapsed(conn, self.holder,
                                                        self.settings.lease_s, now):
                    await self._adopt(conn, row, now, "owner lost")
        if self.ramps:
            self._wake.set()

    def _forget(self, ramp_id: int) -> None:
        ramp = self.ramps.pop(ramp_id, None)
        if ramp is not None and ramp.status.live:
            log.warning("ramp %d on %s: no longer held here (taken over or cancelled by "
                        "another replica); nothing more is sent for it", ramp_id,
                        ramp.point.key)

    async def _adopt(self, conn: asyncpg.Connection, row: asyncpg.Record, now: datetime,
                     why: str) -> Ramp | None:
        """A ramp just taken over from ``row``, in memory here, held; audited."""
        point = self.points.get(row["point"])
        reasons = [str(r) for r in _json_list(row["reasons"])]
        detail = {"why": why, "lost_holder": row["lost_holder"], "holder": self.holder,
                  "epoch": row["epoch"], "confirmed_value": row["confirmed_value"]}
        if point is None:  # the cluster file no longer has it: nothing to resume to
            await store.cancel_held_elsewhere(conn, [row["id"]], self.holder, now,
                                              "point no longer in the cluster")
            await store.audit(conn, at=now, kind="cancelled", actor="heatlink",
                              orgs=row["orgs"], point=row["point"], ramp_id=row["id"],
                              detail=detail | {"by": "heatlink", "why":
                                               "point no longer in the cluster"})
            return None
        start = next((v for v in (row["confirmed_value"], row["start_value"])
                      if v is not None), row["target"])
        low, high = point.range
        start = min(max(start, low), high)
        plan = RampPlan(start, row["target"], row["rate_per_h"] / 3600.0, point.ease_s,
                        point.step_s)
        ramp = Ramp(row["id"], point, row["target"], plan, now, status=RampStatus.HELD,
                    confirmed_value=row["confirmed_value"],
                    plan_no=await store.last_plan_no(conn, row["id"]) + 1,
                    operator_hold="; ".join(reasons) or why)
        self.ramps[ramp.id] = ramp
        if why == "owner lost":
            log.warning("ramp %d on %s taken over from %s: held until an operator resumes it",
                        ramp.id, point.key, row["lost_holder"])
            await store.audit(conn, at=now, kind="held", actor="heatlink",
                              orgs=self.orgs_of(point), point=point.key, ramp_id=ramp.id,
                              detail=detail | {"reasons": list(ramp.reasons)})
        return ramp

    # ---- who may see and do what
    def orgs_of(self, point: WritablePoint) -> list[str]:
        """The point's owner and both companies of every exchange the point's asset is part
        of: they all read its audit log."""
        orgs = {point.owner}
        for e in self.index.cluster.exchanges:
            involved = ({e.exchanger, *e.recipient_assets}
                        | set(self.index.downstream(e.exchanger)))
            if point.asset in involved:
                orgs |= {e.supplier, e.recipient}
        return sorted(orgs)

    def limits(self, point: WritablePoint) -> tuple[float | None, float | None]:
        rise = fall = point.max_rate_per_h
        if point.ramp_rule is not None:
            spec = self.rules.rule(point.ramp_rule).spec
            # The cluster file's check: a ramp_rule names a ramp rule, and a rule's kind
            # never changes at run time.
            assert isinstance(spec, RampRule), spec.kind
            rise = _stricter(rise, spec.max_rise_per_h)
            fall = _stricter(fall, spec.max_fall_per_h)
        return rise, fall

    async def refuse(self, actor: Actor, point_key: str, why: str,
                     detail: dict[str, Any]) -> None:
        self.metrics.refused.inc()
        point = self.points.get(point_key)
        orgs = [*self.orgs_of(point), actor.org] if point else [actor.org]
        async with self.pool.acquire() as conn:
            await store.audit(conn, at=self.clock.now(), kind="request_refused",
                              actor=str(actor), orgs=orgs, point=point_key,
                              detail={"why": why, **detail})

    # ---- operator actions
    async def preview(self, point: WritablePoint, target: float) -> tuple[RampPlan, str]:
        """The ramp ``request`` would plan now, sent nowhere: its plan and where its start
        value comes from. Raises as ``request`` does for a target or a plant value that
        cannot be planned."""
        check_target(target, point.range)
        rise, fall = self.limits(point)
        async with self.pool.acquire() as conn:
            start, source = await self._start_value(conn, point)
        return plan_ramp(start, target, max_rise_per_h=rise, max_fall_per_h=fall,
                         value_range=point.range, rate_fraction=point.rate_fraction,
                         ease_s=point.ease_s, step_s=point.step_s), source

    async def request(self, actor: Actor, point: WritablePoint, target: float) -> int:
        """Plan a ramp from where the plant stands (never from a value the caller gives)."""
        if self.bus is None:
            raise ControlUnavailable("no command broker: set HEATLINK_CONTROL_MQTT_URL")
        missing = self.keys.missing(point.gateway)
        if missing is not None:
            raise ControlUnavailable(missing)
        check_target(target, point.range)  # the caller's mistake first, then the plant's
        rise, fall = self.limits(point)
        now = self.clock.now()
        async with self._lock, self.pool.acquire() as conn, conn.transaction():
            # One request per point at a time across replicas: the second sees the first's
            # ramp and supersedes it.
            await conn.execute(store.q("lock_point"), point.key)
            start, source = await self._start_value(conn, point)
            plan = plan_ramp(start, target, max_rise_per_h=rise, max_fall_per_h=fall,
                             value_range=point.range, rate_fraction=point.rate_fraction,
                             ease_s=point.ease_s, step_s=point.step_s)
            for live in list(self.ramps.values()):
                if live.point.key == point.key and live.status.live:
                    live_events = live.cancel(f"{actor} (superseded)")
                    try:
                        async with conn.transaction():  # a savepoint: lost is not fatal
                            await self._persist(conn, live, live_events, str(actor))
                    except RampLost:
                        self._forget(live.id)
            elsewhere = await store.live_on_point(conn, point.key)
            await self._cancel_elsewhere(conn, elsewhere, f"{actor} (superseded)", now)
            ramp_id = await store.insert_ramp(
                conn, point=point.key, owner=point.owner, requested_by=str(actor),
                start_value=start, target=target, rate_per_h=plan.rate_per_s * 3600,
                steps=plan.steps, orgs=self.orgs_of(point), at=now, holder=self.holder,
                lease_s=self.settings.lease_s)
            ramp = Ramp(ramp_id, point, target, plan, now)
            self.ramps[ramp_id] = ramp
            await self._persist(conn, ramp, [Event("requested", {
                "from": start, "from_source": source, "to": target,
                "rate_per_h": round(plan.rate_per_s * 3600, 4),
                "limit_rise_per_h": rise, "limit_fall_per_h": fall, "steps": plan.steps,
                "duration_s": round(plan.duration_s, 1)})], str(actor))
        self._wake.set()
        return ramp_id

    async def cancel(self, actor: Actor, ramp_id: int) -> bool:
        """Cancel a live ramp, held here or by any other replica."""
        async with self._lock:
            ramp = self.ramps.get(ramp_id)
            if ramp is not None and ramp.status.live:
                try:
                    async with self.pool.acquire() as conn, conn.transaction():
                        await self._persist(conn, ramp, ramp.cancel(str(actor)), str(actor))
                    return True
                except RampLost:
                    self._forget(ramp_id)
            async with self.pool.acquire() as conn, conn.transaction():
                return bool(await self._cancel_elsewhere(conn, [ramp_id], str(actor),
                                                         self.clock.now()))

    async def _cancel_elsewhere(self, conn: asyncpg.Connection, ramp_ids: Sequence[int],
                                by: str, now: datetime) -> int:
        """Cancel live ramps held by other replicas (or none): their holders' next writes
        are fenced off, so they send nothing more."""
        rows = await store.cancel_held_elsewhere(conn, ramp_ids, self.holder, now,
                                                 f"cancelled by {by}")
        for row in rows:
            await store.audit(conn, at=now, kind="cancelled", actor=by, orgs=row["orgs"],
                              point=row["point"], ramp_id=row["id"], detail={
                                  "by": by, "in_flight": None, "holder": row["lost_holder"],
                                  "confirmed_value": row["confirmed_value"]})
        return len(rows)

    async def resume(self, actor: Actor, ramp_id: int) -> bool:
        """Resume a ramp held for the operator, here or (moving it here) on another
        replica."""
        async with self._lock:
            now = self.clock.now()
            ramp = self.ramps.get(ramp_id)
            if ramp is None:
                async with self.pool.acquire() as conn, conn.transaction():
                    row = await store.take_over_held(conn, ramp_id, self.holder,
                                                     self.settings.lease_s, now)
                    if row is not None:
                        ramp = await self._adopt(conn, row, now, "moved to resume")
                if ramp is None:
                    return False
            events = ramp.resume(now, str(actor))
            if not events:
                return False
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await self._persist(conn, ramp, events, str(actor))
            except RampLost:
                self._forget(ramp_id)
                return False
            await self.alarm.clear(ramp)
        self._wake.set()
        return True

    # ---- the runner
    async def _runner(self) -> None:
        while True:
            await wait_event(self._wake, self.settings.tick_s)
            self._wake.clear()
            try:
                await self.tick()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not self._outage(exc):
                    log.exception("control tick failed; trying again at the next")

    async def tick(self) -> None:
        live = [r for r in self.ramps.values() if r.status.live]
        if not live:
            return
        async with self._lock, self.pool.acquire() as conn:
            for ramp in live:
                blockers = await self._blockers(conn, ramp.point)
                events = ramp.limit_changed(self.clock.now(), self._rate_per_s(ramp))
                more, command = ramp.tick(self.clock.now(), blockers)
                events += more
                if not events:
                    continue
                try:
                    async with conn.transaction():
                        if command is not None:
                            seq = await store.insert_command(conn, command,
                                                             ramp.point.gateway)
                            ramp.pending = command = command.model_copy(update={"seq": seq})
                        await self._persist(conn, ramp, events, "heatlink")
                except RampLost:
                    # Rolled back with its command, which therefore never goes out.
                    self._forget(ramp.id)
                    continue
                if command is not None and self.bus is not None \
                        and self.keys.signing is not None:
                    # After the commit: a command is never out without its record.
                    self.bus.send(ramp.point.gateway, sign_command(command, self.keys.signing))

    def _rate_per_s(self, ramp: Ramp) -> float:
        """The rate the point's limit allows now (rules change at run time)."""
        rise, fall = self.limits(ramp.point)
        limit = rise if ramp.target >= ramp.plan.start_value else fall
        if limit is None:
            return ramp.plan.rate_per_s
        return limit * ramp.point.rate_fraction / 3600.0

    async def _blockers(self, conn: asyncpg.Connection,
                        point: WritablePoint) -> tuple[str, ...]:
        reasons: list[str] = []
        if point.depends_on:
            since = self.clock.now() - timedelta(seconds=point.max_input_age_s)
            fresh = await readings.fresh_series(conn, point.depends_on, since)
            reasons += [f"stale input: {key}" for key in point.depends_on if key not in fresh]
        if point.interlock_rules:
            active = await alert_history.active_alarm_rules(conn, point.interlock_rules)
            reasons += [f"active alarm: {rule}" for rule in point.interlock_rules
                        if rule in active]
        return tuple(reasons)

    async def _results(self) -> None:
        assert self.bus is not None
        while True:
            raise_if_cancel_requested()
            mid, payload = await self.bus.inbox.get()
            try:
                await self.on_payload(payload)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Not acknowledged: the broker delivers it again after a reconnect.
                if not self._outage(exc):
                    log.exception("control: a result not stored")
                continue
            self.bus.ack(mid)
            self._wake.set()

    async def on_payload(self, payload: bytes) -> None:
        """A message from a results topic: acted on only when a gateway's key signed it."""
        try:
            signer, result = open_result(payload, self.keys.gateways)
        except SignatureError as exc:
            await self._drop(exc.reason, exc.detail, payload)
            return
        except ValidationError as exc:
            await self._drop("invalid", str(exc.errors()[:1]), payload)
            return
        point = self.points.get(result.point)
        if signer != result.gateway or point is None or point.gateway != signer:
            await self._drop("wrong_gateway", f"signed by {signer!r} for point "
                             f"{result.point!r} answering as {result.gateway!r}", payload)
            return
        await self.on_result(result)

    async def _drop(self, reason: str, detail: str, payload: bytes) -> None:
        self.metrics.dropped.labels(reason).inc()
        log.warning("control: result dropped (%s): %s", reason, detail)
        # Audited for the facilitator only (no organisation): an unverified message names
        # points and ramps as it likes and must not write into a company's log.
        async with self.pool.acquire() as conn:
            await store.audit(conn, at=self.clock.now(), kind="result_dropped",
                              actor="broker", orgs=[], detail={
                                  "reason": reason, "detail": _storable(detail),
                                  "payload": _storable(payload[:500].decode(errors="replace"))})

    def _outage(self, exc: Exception) -> bool:
        """True when `exc` is the database being unreachable (told once, by `storage`)."""
        return self.storage is not None and self.storage.failed(exc, "control")

    async def on_result(self, result: CommandResult) -> None:
        """A verified result."""
        self.metrics.results.labels(result.status).inc()
        async with self._lock:
            now = self.clock.now()
            ramp = self.ramps.get(result.ramp_id)
            point = self.points.get(result.point)
            async with self.pool.acquire() as conn, conn.transaction():
                if ramp is None:
                    held = await store.ramp_holder(conn, result.ramp_id)
                    if held is not None and held["status"] in ("running", "held") \
                            and held["holder"] != self.holder:
                        return  # its holder hears the same result and acts on it
                    # Every replica hears it: the one that stores it first records it.
                    if await store.command_answered(conn, result, now):
                        await store.audit(conn, at=now, kind="late_answer", actor="gateway",
                                          orgs=self.orgs_of(point) if point else [],
                                          point=result.point, ramp_id=result.ramp_id,
                                          command_id=result.command_id,
                                          detail=result.model_dump(mode="json"))
                    return
                await store.command_answered(conn, result, now)
                events = ramp.on_result(result, now)
                try:
                    async with conn.transaction():
                        await self._persist(conn, ramp, events, "gateway")
                except RampLost:
                    self._forget(ramp.id)
                    return
            if any(e.kind in ("readback_mismatch", "step_rejected") for e in events):
                await self.alarm.raise_for(ramp, result)

    async def _persist(self, conn: asyncpg.Connection, ramp: Ramp, events: Sequence[Event],
                       actor: str) -> None:
        now = self.clock.now()
        orgs = self.orgs_of(ramp.point)
        for event in events:
            self.metrics.events.labels(event.kind).inc()
            if event.kind == "step_expired" and event.command_id is not None:
                await store.command_expired(conn, event.command_id)
            if event.kind in ("held", "resumed", "completed", "cancelled"):
                log.info("ramp %d on %s: %s %s", ramp.id, ramp.point.key, event.kind,
                         event.detail)
            await store.audit(conn, at=now, kind=event.kind,
                              actor="heatlink" if event.kind.startswith("step_sent")
                              else actor, orgs=orgs, point=ramp.point.key, ramp_id=ramp.id,
                              command_id=event.command_id, detail=event.detail)
        await store.update_ramp(conn, ramp.id, status=ramp.status.value, reasons=ramp.reasons,
                                confirmed_value=ramp.confirmed_value, step=ramp.step,
                                steps=ramp.plan.steps, at=now, holder=self.holder)

    async def _start_value(self, conn: asyncpg.Connection,
                           point: WritablePoint) -> tuple[float, str]:
        """Where the plant stands, and how that is known: the value its gateway last read
        back after a write, else the latest good reading of the quantity the point's ramp
        rule watches (a temperature setpoint starts where the tank is); either only when
        at most ``start_max_age_s`` old."""
        max_age_s = self.settings.start_max_age_s
        since = self.clock.now() - timedelta(seconds=max_age_s)
        readback = await store.last_readback(conn, point.key)
        if readback is not None and readback[1] >= since:
            return readback[0], f"readback at {readback[1].isoformat()}"
        series = (self.rules.rule(point.ramp_rule).spec.series
                  if point.ramp_rule is not None else None)
        reading = await readings.latest_good(conn, series) if series is not None else None
        if reading is not None and reading[1] >= since:
            return reading[0], f"{series} at {reading[1].isoformat()}"
        known = []
        if readback is not None:
            known.append(f"last readback {readback[0]} at {readback[1].isoformat()}")
        if reading is not None:
            known.append(f"latest good reading of {series}: {reading[0]} at "
                         f"{reading[1].isoformat()}")
        raise StartError(f"no fresh plant value to start {point.key} from (none in the last "
                         f"{max_age_s:g} s: {'; '.join(known) or 'none at all'}); a ramp "
                         "starts only from what the plant reports")


def replica_name(settings: ControlSettings) -> str:
    """This replica's name: configured, or unique among running processes (host, pid)."""
    return settings.replica or f"{socket.gethostname()}-{os.getpid()}"


def _json_list(value: Any) -> list[Any]:
    """A jsonb array as asyncpg gives it (text)."""
    loaded = json.loads(value) if isinstance(value, str) else value
    return list(loaded) if isinstance(loaded, list) else []


def _storable(text: str) -> str:
    """Text of unknown origin as jsonb can hold it (no NUL): a message that cannot be audited
    would never be acknowledged, and come back for ever."""
    return text.replace("\x00", "\ufffd")


def _stricter(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def create_control(*, pool: asyncpg.Pool, index: ClusterIndex, clock: Clock,
                   monitor: MonitorRuntime, alerts: Alarms, registry: CollectorRegistry,
                   storage: StorageHealth, settings: ControlSettings) -> ControlRuntime:
    """Build control from the parts it stands on: the monitor's rules (ramp limits, which
    change at run time) and the alerts, which hear of a plant that does not follow."""
    # A client id per replica: with one fixed id, replicas would take the broker session
    # from each other in turn.
    client_id = f"{settings.client_id}-{replica_name(settings)}"
    bus = (CommandBus(settings.mqtt_url, client_id, settings.topic_prefix,
                      username=settings.mqtt_username, password=settings.mqtt_password,
                      ca_file=settings.mqtt_ca_file) if settings.mqtt_url else None)
    return ControlRuntime(pool, index, clock, monitor, alerts, settings, bus,
                          ControlMetrics(registry), storage, load_keys(settings))
