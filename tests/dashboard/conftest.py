"""A running service on the wall clock (the page and the stream live in real time), with a
token per organisation and a gateway that feeds readings through the real ingest API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import httpx
import pytest

from services.access.principal import Role
from services.settings import Settings
from tests.support.service import AppHandle, make_token, running_app

ORG_ROLES = {"glomfjord-smelter": Role.OPERATOR, "fjordsmolt": Role.RECIPIENT,
             "mo-ferrosilicon": Role.OPERATOR, "mo-fjernvarme": Role.OPERATOR,
             "mo-greenhouse": Role.RECIPIENT, "cluster-facilitator": Role.FACILITATOR}


@pytest.fixture(scope="session")
async def live_service(database_url: str) -> AsyncIterator[AppHandle]:
    settings = Settings(database_url=database_url, retention_days=30, token_cache_ttl_s=0)
    async with running_app(settings) as handle:
        yield handle


@pytest.fixture(scope="session")
async def org_tokens(live_service: AppHandle, database_url: str) -> dict[str, str]:
    return {org: await make_token(database_url, org, role) for org, role in ORG_ROLES.items()}


@pytest.fixture(scope="session")
async def glomfjord_gateway(live_service: AppHandle, database_url: str) -> str:
    return await make_token(database_url, "glomfjord-smelter", Role.GATEWAY,
                            gateway="glomfjord-gw1")


async def ingest(client: httpx.AsyncClient, values: Sequence[tuple[str, float]],
                 at: datetime | None = None, gateway: str = "glomfjord-gw1") -> None:
    """Send one batch of (series, value) at ``at`` (default now) through POST /v1/ingest."""
    ts = (at or datetime.now(UTC)).isoformat()
    response = await client.post("/v1/ingest", json={
        "gateway": gateway, "batch_id": uuid.uuid4().hex,
        "readings": [{"series": s, "ts": ts, "value": v} for s, v in values]})
    assert response.status_code == 200, response.text
    assert not response.json()["rejected"], response.text
