"""The alert module inside the service: built in the app's lifespan from what it is given."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from functools import partial

import asyncpg
from prometheus_client import CollectorRegistry

from alerts.channels.base import Channel
from alerts.channels.dashboard import AlertStream, DashboardChannel, EventHub, LiveHubStream
from alerts.channels.email import SmtpEmailChannel
from alerts.channels.mqtt import PahoMqttChannel
from alerts.channels.webhook import WebhookChannel
from alerts.metrics import AlertMetrics
from alerts.service import AlertService, LatestValues
from alerts.settings import AlertSettings
from alerts.signing import LinkSigner
from alerts.worker import StorageWatch
from alerts.worker_thread import ThreadSafeStream, WorkerThread
from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex

log = logging.getLogger(__name__)


@dataclass
class AlertsRuntime:
    """``service`` is the FindingSink and the API's handle, on the request loop; the
    delivery worker runs in ``worker`` (its own thread), or not at all in this process."""

    service: AlertService
    worker: WorkerThread | None
    stream: AlertStream

    async def start(self) -> None:
        if self.worker is not None:
            await self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()


def build_channels(settings: AlertSettings, stream: AlertStream,
                   clock: Clock | None = None) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(settings.send_timeout_s, clock),
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
                                           timeout_s=settings.send_timeout_s,
                                           username=settings.mqtt_username,
                                           password=settings.mqtt_password,
                                           ca_file=settings.mqtt_ca_file)
    return channels


def create_runtime(*, pool: asyncpg.Pool, database_url: str, index: ClusterIndex,
                   clock: Clock, hub: EventHub, registry: CollectorRegistry,
                   storage: StorageWatch, settings: AlertSettings,
                   latest: LatestValues) -> AlertsRuntime:
    """Build the alert module on the service's pool (the delivery worker opens its own on
    ``database_url``); its dashboard events go to the live ``hub``, database errors to
    ``storage``; the values an alert's impact needs come from ``latest``."""
    if settings.link_secret:
        link_key = settings.link_secret.encode()
    else:
        log.warning("HEATLINK_ALERTS_LINK_SECRET is unset: one-click links stop working "
                    "when the service restarts")
        link_key = secrets.token_bytes(32)
    signer = LinkSigner(link_key, settings.public_url, settings.link_ttl_s)
    stream: AlertStream = LiveHubStream(hub)
    counters = AlertMetrics(registry)
    worker = None
    if settings.run_worker:
        worker = WorkerThread(database_url, clock, index, signer, settings,
                              ThreadSafeStream(stream, asyncio.get_running_loop()),
                              counters, partial(build_channels, clock=clock), storage,
                              latest=latest)
    service = AlertService(pool, index, clock, signer,
                           worker.wake if worker is not None else (lambda: None), counters,
                           latest=latest)
    return AlertsRuntime(service, worker, stream)
