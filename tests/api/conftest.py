"""The whole service on a database of its own, with control on a real broker, and a token
for each kind of caller (``roles.CALLERS``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from services.settings import Settings
from tests.api.roles import CALLERS
from tests.control.support import ControlKeys
from tests.support.servers import empty_database
from tests.support.service import AppHandle, make_token, running_app

MAX_BODY_BYTES = 2_000_000


@pytest.fixture(scope="session")
async def api_database(postgres_url: str) -> AsyncIterator[str]:
    async with empty_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
async def api_service(api_database: str, mqtt_url: str,
                      tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AppHandle]:
    keys = ControlKeys.make(tmp_path_factory.mktemp("control-keys"))
    with pytest.MonkeyPatch.context() as env:
        # Read once, with the settings: ramps are planned, signed and sent to a real broker
        # (no gateway listens, so they expire and hold), and no alert leaves the process.
        env.setenv("HEATLINK_CONTROL_MQTT_URL", mqtt_url)
        env.setenv("HEATLINK_CONTROL_SIGNING_KEY_FILE", str(keys.service_key_file))
        env.setenv("HEATLINK_CONTROL_GATEWAY_KEYS_FILE", str(keys.gateway_keys_file))
        env.setenv("HEATLINK_CONTROL_TOPIC_PREFIX", f"heatlink-api-{uuid.uuid4().hex[:8]}")
        env.setenv("HEATLINK_CONTROL_CLIENT_ID", f"api-{uuid.uuid4().hex[:8]}")
        env.setenv("HEATLINK_ALERTS_RUN_WORKER", "false")
        settings = Settings(database_url=api_database, retention_days=30,
                            token_cache_ttl_s=60, max_body_bytes=MAX_BODY_BYTES)
        async with running_app(settings) as handle:
            env.undo()
            yield handle


@pytest.fixture(scope="session")
async def api_tokens(api_service: AppHandle, api_database: str) -> dict[str, str]:
    return {name: await make_token(api_database, org, role, scopes=scopes, gateway=gateway,
                                   name=name)
            for name, (org, role, scopes, gateway) in CALLERS.items()}
