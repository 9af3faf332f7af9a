"""The alert module inside the service: built from settings in the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import FastAPI

from alerts import outbox
from alerts.channels.base import Channel
from alerts.channels.dashboard import AlertStream, DashboardChannel, LiveHubStream
from alerts.channels.email import SmtpEmailChannel
from alerts.channels.mqtt import PahoMqttChannel
from alerts.channels.webhook import WebhookChannel
from alerts.metrics import AlertMetrics
from alerts.service import AlertService
from alerts.settings import AlertSettings
from alerts.signing import LinkSigner
from alerts.testing import InMemoryAlertStream
from alerts.worker import DeliveryWorker

log = logging.getLogger(__name__)


@dataclass
class AlertsRuntime:
    service: AlertService
    worker: DeliveryWorker
    channels: dict[str, Channel]
    stream: AlertStream
    database_url: str
    run_worker: bool
    _task: asyncio.Task[None] | None = None
    _listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        if not self.run_worker:
            return
        # Another process (or this one) committing deliveries wakes the worker at once.
        self._listener = await asyncpg.connect(self.database_url)
        await self._listener.add_listener(outbox.CHANNEL, self._on_notify)
        self._task = asyncio.create_task(self.worker.run(self.service.tick),
                                         name="alert-worker")

    def _on_notify(self, *_: Any) -> None:
        self.worker.wake()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            await self._listener.close()
        for channel in self.channels.values():
            await channel.close()


def build_channels(settings: AlertSettings, stream: AlertStream) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(settings.send_timeout_s),
        "dashboard": DashboardChannel(stream),
    }
    if settings.smtp_url:
        channels["email"] = SmtpEmailChannel(settings.smtp_url, settings.smtp_from,
                                             user=settings.smtp_user,
                                             password=settings.smtp_password,
                                             timeout_s=settings.send_timeout_s)
    if settings.mqtt_url:
        channels["mqtt"] = PahoMqttChannel(settings.mqtt_url,
                                           client_id=f"heatlink-alerts-{secrets.token_hex(4)}",
                                           timeout_s=settings.send_timeout_s)
    return channels


def create_runtime(app: FastAPI, settings: AlertSettings | None = None) -> AlertsRuntime:
    """Build the alert module from ``app.state`` (pool, index, clock, settings)."""
    settings = settings or AlertSettings()
    if settings.link_secret:
        link_key = settings.link_secret.encode()
    else:
        log.warning("HEATLINK_ALERTS_LINK_SECRET is unset: one-click links stop working "
                    "when the service restarts")
        link_key = secrets.token_bytes(32)
    signer = LinkSigner(link_key, settings.public_url, settings.link_ttl_s)
    # The dashboard's live hub, when it exists, takes alert events; otherwise keep them here.
    hub = getattr(app.state, "live_hub", None)
    stream: AlertStream = LiveHubStream(hub) if hub is not None else InMemoryAlertStream()
    channels = build_channels(settings, stream)
    index = app.state.index
    metrics = getattr(app.state, "metrics", None)
    registry = getattr(metrics, "registry", None)
    counters = AlertMetrics(registry)
    worker = DeliveryWorker(app.state.pool, app.state.clock, channels,
                            index.cluster.alerting, settings, counters)
    service = AlertService(app.state.pool, index, app.state.clock, signer, worker.wake,
                           counters)
    return AlertsRuntime(service, worker, channels, stream, app.state.settings.database_url,
                         settings.run_worker)
