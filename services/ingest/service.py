"""The ingest use case: body in, IngestResult out, readings stored and observed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg

from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from heatlink.inputs import printable, text_problem
from heatlink.quality import QUALITY_NAMES
from heatlink.wire import IngestResult, RejectReason
from services.access.log import log_denied
from services.access.principal import Principal, Role
from services.ingest.checks import (
    CheckedBatch,
    SeriesLimits,
    Writable,
    check_readings,
    check_runs,
    check_typed,
)
from services.ingest.decode import (
    Body,
    IngestError,
    TypedBatch,
    gunzip,
    read_batch,
    read_typed,
)
from services.ingest.derived import DerivedReadings
from services.ingest.observer import ReadingsObserver, tell_observers
from services.ingest.runs import TypedRuns, read_runs, read_typed_runs, runs_size
from services.ingest.store import store_batch
from services.metrics import ServiceMetrics
from services.settings import Settings

log = logging.getLogger(__name__)
Common = tuple[str, str, CheckedBatch]  # gateway, batch id, readings: a batch all good


@dataclass
class IngestService:
    pool: asyncpg.Pool
    index: ClusterIndex
    limits: dict[str, SeriesLimits]
    settings: Settings
    clock: Clock
    metrics: ServiceMetrics
    observers: list[ReadingsObserver]

    # The columnar check's view of the series each token may write, by what it may write.
    _writable: dict[frozenset[str] | None, Writable] = field(default_factory=dict)

    def decode(self, body: bytes, content_encoding: str | None) -> bytes:
        """The body as JSON bytes: unpacked, within the size limit."""
        limit = self.settings.max_body_bytes
        encoding = (content_encoding or "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            body = gunzip(body, limit)
        elif encoding != "identity":
            raise IngestError(415, f"Content-Encoding '{printable(encoding, 40)}' is not "
                              "supported; use gzip or none")
        if len(body) > limit:
            raise IngestError(413, f"body exceeds the limit of {limit} bytes "
                              "(HEATLINK_MAX_BODY_BYTES); send smaller batches")
        return body

    async def ingest(self, principal: Principal, body: bytes,
                     content_encoding: str | None) -> IngestResult:
        """A batch of readings (`POST /v1/ingest`)."""
        return await self._ingest(principal, body, content_encoding, read_typed, read_batch)

    async def ingest_runs(self, principal: Principal, body: bytes,
                          content_encoding: str | None) -> IngestResult:
        """A batch of runs (`POST /v1/ingest/runs`): the same checks, storage and answer."""
        return await self._ingest(
            principal, body, content_encoding, read_typed_runs,
            lambda raw: read_runs(raw, self.settings.max_readings_per_batch))

    async def _ingest(self, principal: Principal, body: bytes, content_encoding: str | None,
                      read_common: Callable[[bytes], TypedBatch | TypedRuns | None],
                      read_any: Callable[[bytes], Body]) -> IngestResult:
        started = time.perf_counter()
        body = self.decode(body, content_encoding)
        common = self._common(principal, read_common(body))
        if common is None:
            gateway, batch_id, checked, raw_reading = await self._any_batch(
                principal, read_any(body))
        else:  # nothing rejected: no reading's raw bytes will be asked for
            gateway, batch_id, checked = common
            raw_reading = Body(gateway, batch_id, None, body).raw_reading
        outcome = await store_batch(self.pool, batch_scope(principal, gateway), batch_id,
                                    checked, raw_reading,
                                    inbox=self.settings.monitor_partitions > 0)
        result = outcome.result
        self._count(result)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        if outcome.stored:
            self._notify(checked, outcome.stored)
        return result

    def _common(self, principal: Principal, typed: TypedBatch | TypedRuns | None
                ) -> Common | None:
        """The batch checked a column at a time, when it is of the common kind: typed JSON
        (`read_typed`, `read_typed_runs`), a good envelope, this token's own gateway,
        within the count limit, every reading good (`check_typed`, `check_runs`). None
        otherwise: `_any_batch` reads and checks it again, the one way that says what is
        wrong."""
        if typed is None:
            return None
        if isinstance(typed, TypedRuns):
            count, check = runs_size(typed.runs), partial(check_runs, typed.runs)
        else:
            count, check = len(typed.readings), partial(check_typed, typed.readings)
        if not self._plain(principal, typed.gateway, typed.batch_id, count):
            return None
        checked = check(self._writable_by(principal), self.clock.now(),
                        self.settings.max_future_skew_s, self.settings.retention_days)
        return None if checked is None else (typed.gateway, typed.batch_id, checked)

    def _plain(self, principal: Principal, gateway: str, batch_id: str, count: int) -> bool:
        """A good envelope, this token's own gateway, within the count limit."""
        return (_envelope_problem(gateway, batch_id) is None
                and self._refusal(principal, gateway) is None
                and count <= self.settings.max_readings_per_batch)

    def _writable_by(self, principal: Principal) -> Writable:
        permitted = self._permitted(principal)
        writable = self._writable.get(permitted)
        if writable is None:
            if len(self._writable) >= 256:  # integrators' tokens each make their own set
                self._writable.clear()
            writable = self._writable[permitted] = Writable.of(self.limits, permitted)
        return writable

    async def _any_batch(self, principal: Principal, batch: Body
                         ) -> tuple[str, str, CheckedBatch, Callable[[int], bytes]]:
        """Any body, read and checked one reading at a time: what is wrong with the batch
        is refused with its 4xx, what is wrong with a reading rejects that reading."""
        gateway, batch_id, readings = _envelope(batch)
        refusal = self._refusal(principal, gateway)
        if refusal is not None:
            log.warning("ingest refused for %s:%s (#%d): %s", principal.org, principal.name,
                        principal.token_id, refusal)
            raise IngestError(403, refusal)
        if len(readings) > self.settings.max_readings_per_batch:
            raise IngestError(413, f"{len(readings)} readings exceed the limit of "
                              f"{self.settings.max_readings_per_batch} per batch "
                              "(HEATLINK_MAX_READINGS_PER_BATCH); split the batch")
        permitted = self._permitted(principal)
        checked = check_readings(readings, self.limits, permitted, self.clock.now(),
                                 self.settings.max_future_skew_s, self.settings.retention_days)
        await self._log_refused_writes(principal, checked)
        return gateway, batch_id, checked, batch.raw_reading

    def _refusal(self, principal: Principal, gateway: str) -> str | None:
        """Why ``principal`` may not send a batch in the name of ``gateway``, or None."""
        if principal.gateway is not None and principal.gateway != gateway:
            return f"this token belongs to gateway {principal.gateway!r}, not {gateway!r}"
        if principal.role == Role.GATEWAY and principal.gateway is None:
            return "this gateway token names no gateway; ask for one made with --gateway"
        owner = self.index.gateway_owner(gateway)
        if owner is not None and owner != principal.org:
            return (f"gateway {gateway!r} belongs to {owner}; a token of {principal.org} may "
                    "not send in its name")
        return None

    def _permitted(self, principal: Principal) -> frozenset[str]:
        """Series the token may write, whatever its role: its gateway's, or, for a token
        bound to no gateway (an integrator's), its own organisation's measured series."""
        if principal.gateway is not None:
            return self.index.gateway_series(principal.gateway)
        return frozenset(k for k, s in self.index.series.items()
                         if s.owner == principal.org and not s.derived)

    async def _log_refused_writes(self, principal: Principal, checked: CheckedBatch) -> None:
        """Attempts to write another company's series go to that company's access log."""
        refused = {(info.owner, r.series) for r in checked.rejected
                   if r.reason == RejectReason.NOT_PERMITTED and r.series is not None
                   and (info := self.index.series.get(r.series)) is not None}
        if refused:
            await log_denied(self.pool, principal.org, sorted(refused), "ingest",
                             f"token {principal.name!r} may not write it")

    def _count(self, result: IngestResult) -> None:
        if result.replayed:
            self.metrics.batches.labels("replayed").inc()
            return
        self.metrics.batches.labels("stored").inc()
        self.metrics.readings.labels("accepted").inc(result.accepted)
        if result.duplicates:
            self.metrics.readings.labels("duplicate").inc(result.duplicates)
        if result.conflicts:
            self.metrics.readings.labels("conflict").inc(result.conflicts)
            log.warning("batch %s: %d readings conflict with stored values (quarantined)",
                        result.batch_id, result.conflicts)
        for rejection in result.rejected:
            self.metrics.rejected.labels(str(rejection.reason)).inc()
        if result.rejected:
            self.metrics.readings.labels("rejected").inc(len(result.rejected))

    def _notify(self, checked: CheckedBatch, stored: list[int]) -> None:
        if not self.observers:
            return
        if len(stored) == len(checked):
            keys, ts, values = checked.keys, checked.ts, checked.values
            quality = list(map(QUALITY_NAMES.__getitem__, checked.quality))
        else:
            keys = [checked.keys[i] for i in stored]
            ts = [checked.ts[i] for i in stored]
            values = [checked.values[i] for i in stored]
            quality = [QUALITY_NAMES[checked.quality[i]] for i in stored]
        tell_observers(self.observers, keys, ts, values, quality)

    def derived_readings(self) -> DerivedReadings:
        """How another domain (the monitor) stores the series it computes: through this
        store, told to these observers (the list itself: observers added later hear too)."""
        return DerivedReadings({key: self.limits[key].series_id
                                for key, info in self.index.series.items()
                                if info.derived and key in self.limits}, self.observers)


def batch_scope(principal: Principal, gateway: str) -> str:
    """Whose batch ids these are: the authenticated gateway's, else the organisation's own
    space (an id with a slash, which no gateway id has). Never the name in the body alone,
    or one company could answer another gateway's batch id first and make it look resent."""
    return principal.gateway or f"{principal.org}/{gateway}"


def _envelope_problem(gateway: Any, batch_id: Any) -> str | None:
    for name, value in (("gateway", gateway), ("batch_id", batch_id)):
        if not isinstance(value, str) or not 0 < len(value) <= 200:
            return f"'{name}' must be a non-empty string of at most 200 characters"
        problem = text_problem(value, multiline=False)
        if problem is not None:
            return f"'{name}' {problem}"
    return None


def _envelope(batch: Body) -> tuple[str, str, list[Any]]:
    problem = _envelope_problem(batch.gateway, batch.batch_id)
    if problem is not None:
        raise IngestError(400, problem)
    if not isinstance(batch.readings, list):
        raise IngestError(400, "'readings' must be a list")
    return batch.gateway, batch.batch_id, batch.readings
