from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from heatlink.testing import FakeClock
from services.access.principal import Role
from services.settings import Settings
from tests.support.servers import empty_database
from tests.support.service import AppHandle, make_token, running_app

T0 = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(scope="session")
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """These tests count what they stored: a database of their own, not the session's."""
    async with empty_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
async def service(database_url: str, clock: FakeClock) -> AsyncIterator[AppHandle]:
    settings = Settings(database_url=database_url, max_readings_per_batch=10_000,
                        retention_days=30)
    async with running_app(settings, clock=clock) as handle:
        yield handle


@pytest.fixture(scope="session")
async def gw_token(service: AppHandle, database_url: str) -> str:
    return await make_token(database_url, "glomfjord-smelter", Role.GATEWAY,
                            gateway="glomfjord-gw1")


@pytest.fixture(scope="session")
async def tokens(service: AppHandle, database_url: str) -> dict[str, str]:
    """A reading token per organisation of the example cluster."""
    orgs = {"glomfjord-smelter": Role.OPERATOR, "fjordsmolt": Role.RECIPIENT,
            "mo-ferrosilicon": Role.OPERATOR, "mo-fjernvarme": Role.OPERATOR,
            "mo-greenhouse": Role.RECIPIENT, "cluster-facilitator": Role.FACILITATOR}
    return {org: await make_token(database_url, org, role) for org, role in orgs.items()}
