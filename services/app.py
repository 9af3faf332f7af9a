"""The FastAPI application, built from settings. Nothing happens at import time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from alerts.runtime import create_runtime
from heatlink import __version__
from heatlink.aio import cancel_and_wait, stop_together
from heatlink.clock import Clock, SystemClock
from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import load_cluster
from heatlink.pool import keep_session
from services.access.attempts import Limits, LoginAttempts
from services.access.login import router as login_router
from services.access.router import router as access_router
from services.access.sessions import SessionStore
from services.access.tokens import TokenStore
from services.access.users import UserStore
from services.accounting.router import router as accounting_router
from services.accounting.runtime import AccountingRuntime
from services.alerts.journal_router import router as journal_router
from services.alerts.router import router as alerts_router
from services.api import install as install_api
from services.control.preview import router as preview_router
from services.control.router import router as control_router
from services.control.runtime import create_control
from services.dashboard.router import router as dashboard_router
from services.dashboard.runtime import build_dashboard
from services.deps import install_parts
from services.export.router import router as export_router
from services.health.router import router as health_router
from services.ingest.router import router as ingest_router
from services.ingest.service import IngestService
from services.ingest.store import sync_series
from services.live.router import router as live_router
from services.live.wiring import start_live
from services.metrics import ServiceMetrics
from services.monitor.partitioned import start_partitioned_monitor
from services.monitor.router import router as monitor_router
from services.monitor.runtime import start_monitor
from services.readings.router import router as readings_router
from services.readings.store import latest_values
from services.runtimes import Runtimes, bind
from services.security_headers import SecurityHeaders
from services.settings import Settings
from services.storage import timescale
from services.storage.answers import install_storage_answers
from services.storage.health import StorageHealth
from services.storage.migrate import apply_migrations
from services.storage.retention import retention_loop

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    pass


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    if not settings.database_url:
        raise StartupError("HEATLINK_DATABASE_URL is not set (the `serve` and `demo` commands "
                           "start a private server when it is unset)")
    database_url = settings.database_url
    clock = clock or SystemClock()
    cluster = load_cluster(settings.cluster_file)
    index = ClusterIndex(cluster)

    # The metrics and the storage health exist before the start: the answer to a database
    # outage (services/storage/answers.py) is installed with the app.
    metrics = ServiceMetrics()
    storage = StorageHealth(registry=metrics.registry)

    async def start(started: contextlib.AsyncExitStack) -> Runtimes:
        """Start the parts in the order their arguments require, each registering its stop
        on ``started`` as soon as it runs."""
        if settings.migrate_on_start:
            await apply_migrations(database_url)
        features = await timescale.enable(database_url,
                                          chunk_interval_hours=settings.chunk_interval_hours,
                                          retention_days=settings.retention_days)
        if settings.require_timescaledb and not features.hypertable:
            raise StartupError(f"HEATLINK_REQUIRE_TIMESCALEDB is set but storage is "
                               f"{features.describe()}")
        log.info("storage: %s", features.describe())
        # A replica that hangs (or loses its host) inside a transaction keeps its locks,
        # and another replica given the same batch waits on its batch id: the database
        # ends such a transaction after this long, so the batch is stored by the other.
        idle_ms = int(settings.idle_in_transaction_timeout_s * 1000)
        pool = await asyncpg.create_pool(
            database_url, min_size=settings.pool_min_size, max_size=settings.pool_max_size,
            server_settings={"idle_in_transaction_session_timeout": str(idle_ms)},
            reset=keep_session)
        started.push_async_callback(pool.close)
        storage.start(pool)
        started.push_async_callback(storage.stop)
        limits = await sync_series(pool, index)
        ingest = IngestService(pool, index, limits, settings, clock, metrics, [])
        live = start_live(ingest, clock, pool, database_url, settings.stream_ticket_ttl_s)
        started.callback(live.hub.close)
        await live.fanout.start()
        started.push_async_callback(live.fanout.stop)
        # The parts that run in the background stop together, before the hub and the pool:
        # one part waiting on its broker does not hold up the others.
        running: list[Callable[[], Awaitable[None]]] = []
        started.push_async_callback(stop_together, running)
        alerts = create_runtime(
            pool=pool, database_url=database_url, index=index, clock=clock, hub=live.hub,
            registry=metrics.registry, storage=storage, settings=settings.alerts,
            latest=latest_values)
        await alerts.start()
        running.append(alerts.stop)
        # The monitor hands its findings to the alerts, so it starts after them.
        # Its heat power enters through ingest's store and reaches ingest's observers.
        if settings.monitor_partitions:
            # Replicas share the series by lease; readings reach the holder by the inbox.
            monitor = await start_partitioned_monitor(
                pool, cluster, clock, alerts.service, partitions=settings.monitor_partitions,
                lease_s=settings.monitor_lease_s, database_url=database_url,
                registry=metrics.registry, storage=storage, derived=ingest.derived_readings())
        else:
            monitor = await start_monitor(pool, cluster, clock, alerts.service,
                                          registry=metrics.registry, storage=storage,
                                          derived=ingest.derived_readings())
        running.append(monitor.stop)
        ingest.observers.append(monitor.observer)
        # Control reads the monitor's rules (ramp limits) and raises alerts: it starts last.
        control = create_control(
            pool=pool, index=index, clock=clock, monitor=monitor, alerts=alerts.service,
            registry=metrics.registry, storage=storage, settings=settings.control)
        await control.start()
        running.append(control.stop)
        accounting = AccountingRuntime(pool, index, clock, features.timescaledb)
        ingest.observers.append(accounting)
        await accounting.start()
        running.append(accounting.stop)
        retention = asyncio.create_task(retention_loop(
            pool, features, clock, settings.retention_days,
            settings.retention_check_interval_s, metrics, storage), name="retention")
        running.append(functools.partial(cancel_and_wait, retention))
        return Runtimes(
            settings=settings, clock=clock, pool=pool, features=features, index=index,
            metrics=metrics, storage=storage,
            tokens=TokenStore(pool, clock, settings.token_cache_ttl_s),
            users=UserStore(pool, clock),
            sessions=SessionStore(pool, clock, ttl_s=settings.session_ttl_s,
                                  idle_s=settings.session_idle_s,
                                  cache_ttl_s=settings.token_cache_ttl_s),
            login_attempts=LoginAttempts(pool, clock, Limits(
                settings.login_max_failures, settings.login_max_failures_per_client,
                settings.login_window_s)),
            ingest=ingest, live=live, alerts=alerts, monitor=monitor, control=control,
            accounting=accounting, dashboard=build_dashboard(pool, index))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Whatever started is stopped, also when the start is cut short (stopped while
        # starting, or a part failed): nothing is left running.
        async with contextlib.AsyncExitStack() as started:
            bind(app, await start(started))
            yield

    app = FastAPI(
        title="heatlink",
        version=__version__,
        summary="Monitoring and control of surplus heat exchange in an industrial cluster",
        description=(
            "Every endpoint but /healthz, /readyz, /metrics and POST /v1/session needs "
            "`Authorization: Bearer <token>` (machines) or the session cookie that POST "
            "/v1/session sets (people; a change then also needs `X-CSRF-Token`). A caller "
            "belongs to one organisation and sees that organisation's series plus those its "
            "exchanges share with it. Times are RFC 3339 with offset."),
        lifespan=lifespan,
    )
    install_api(app, max_body_bytes=settings.max_body_bytes)
    install_parts(app)  # bound by the lifespan; until then a route answers 503
    install_storage_answers(app, storage)  # a database outage answers 503 on every route
    # Added last, so outermost: error answers from the body bound carry the headers too.
    app.add_middleware(SecurityHeaders)
    app.include_router(health_router)
    app.include_router(ingest_router)
    app.include_router(readings_router)
    app.include_router(access_router)
    app.include_router(login_router)
    app.include_router(export_router)
    app.include_router(live_router)
    app.include_router(dashboard_router)
    app.include_router(alerts_router)
    app.include_router(journal_router)
    app.include_router(monitor_router)
    app.include_router(control_router)
    app.include_router(preview_router)
    app.include_router(accounting_router)
    return app
