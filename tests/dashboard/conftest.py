"""A running service on the wall clock (the page and the stream live in real time), with a
token per organisation and a gateway that feeds readings through the real ingest API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml

from heatlink.cluster.loader import EXAMPLE_CLUSTER
from services.access.principal import Role
from services.settings import Settings
from tests.support.servers import with_database
from tests.support.service import AppHandle, make_token, make_user, running_app

ORG_ROLES = {"glomfjord-smelter": Role.OPERATOR, "fjordsmolt": Role.RECIPIENT,
             "mo-ferrosilicon": Role.OPERATOR, "mo-fjernvarme": Role.OPERATOR,
             "mo-greenhouse": Role.RECIPIENT, "cluster-facilitator": Role.FACILITATOR}


@pytest.fixture(scope="session")
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A database of the dashboard tests' own: they write readings stamped now, alerts and
    access-log rows that other packages' tests on the session database must not see."""
    name = f"heatlink_dash_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(postgres_url, name)
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def cluster_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example cluster, with alerts sent at once rather than grouped for 30 s: the
    tests watch alerts arrive, and one test's alert must not hold back the next's."""
    doc = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    doc.setdefault("alerting", {})["group_window_s"] = 0
    path = tmp_path_factory.mktemp("cluster") / "nordland.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="session")
async def live_service(database_url: str, cluster_file: Path) -> AsyncIterator[AppHandle]:
    settings = Settings(database_url=database_url, retention_days=30, token_cache_ttl_s=0,
                        cluster_file=cluster_file)
    async with running_app(settings) as handle:
        yield handle


@pytest.fixture(scope="session")
async def org_tokens(live_service: AppHandle, database_url: str) -> dict[str, str]:
    return {org: await make_token(database_url, org, role) for org, role in ORG_ROLES.items()}


@pytest.fixture(scope="session")
async def org_users(live_service: AppHandle, database_url: str) -> dict[str, tuple[str, str]]:
    """A person per organisation who logs in: org -> (username, password)."""
    return {org: await make_user(database_url, org, role) for org, role in ORG_ROLES.items()}


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
