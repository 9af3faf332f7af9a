"""What a started app holds: every part, typed, and the one place they are bound to the
dependencies the routers declare (`services/deps.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI

from alerts.runtime import AlertsRuntime
from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from services import deps
from services.access import deps as access
from services.access.attempts import LoginAttempts
from services.access.sessions import SessionStore
from services.access.tokens import TokenStore
from services.access.users import UserStore
from services.accounting.router import accounting_runtime
from services.accounting.runtime import AccountingRuntime
from services.alerts.router import alerts_runtime
from services.control.router import get_control
from services.control.runtime import ControlRuntime
from services.dashboard.router import dashboard_part
from services.dashboard.runtime import Dashboard
from services.ingest.router import ingest_service
from services.ingest.service import IngestService
from services.live.router import live_part
from services.live.wiring import Live
from services.metrics import ServiceMetrics
from services.monitor.router import get_monitor
from services.monitor.runtime import MonitorRuntime
from services.settings import Settings
from services.storage.health import StorageHealth
from services.storage.timescale import TimeSeriesFeatures


@dataclass(frozen=True)
class Runtimes:
    settings: Settings
    clock: Clock
    pool: asyncpg.Pool
    features: TimeSeriesFeatures
    index: ClusterIndex
    metrics: ServiceMetrics
    storage: StorageHealth
    tokens: TokenStore
    users: UserStore
    sessions: SessionStore
    login_attempts: LoginAttempts
    ingest: IngestService
    live: Live
    alerts: AlertsRuntime
    monitor: MonitorRuntime
    control: ControlRuntime
    accounting: AccountingRuntime
    dashboard: Dashboard


_RUNTIMES = deps.Part[Runtimes]("runtimes")


def bind(app: FastAPI, r: Runtimes) -> None:
    """Bind each part the routers depend on; mypy checks every pair's type."""
    parts = deps.bound_parts(app)
    parts.bind(_RUNTIMES, r)
    parts.bind(deps.settings, r.settings)
    parts.bind(deps.clock, r.clock)
    parts.bind(deps.pool, r.pool)
    parts.bind(deps.features, r.features)
    parts.bind(deps.index, r.index)
    parts.bind(deps.metrics, r.metrics)
    parts.bind(deps.storage, r.storage)
    parts.bind(access.token_store, r.tokens)
    parts.bind(access.user_store, r.users)
    parts.bind(access.session_store, r.sessions)
    parts.bind(access.login_attempt_store, r.login_attempts)
    parts.bind(ingest_service, r.ingest)
    parts.bind(live_part, r.live)
    parts.bind(alerts_runtime, r.alerts)
    parts.bind(get_monitor, r.monitor)
    parts.bind(get_control, r.control)
    parts.bind(accounting_runtime, r.accounting)
    parts.bind(dashboard_part, r.dashboard)


def runtimes_of(app: FastAPI) -> Runtimes:
    """The parts of a started app (for tests, benchmarks and the demo)."""
    return deps.bound_parts(app).get(_RUNTIMES)
