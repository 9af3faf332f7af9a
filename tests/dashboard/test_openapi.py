"""schemathesis against the whole app's OpenAPI document: no input makes a 5xx.

The app is served by uvicorn in a thread of its own (schemathesis calls it from a child
process), on this session's database, with a token that may read everything and ingest.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from services.access.principal import Role, Scope
from services.app import create_app
from services.settings import Settings
from services.storage.local_postgres import free_port
from tests.support.service import make_token

ST = Path(sys.executable).with_name("st")
# e.g. HEATLINK_TEST_ST_ARGS="--exclude-path-regex ^/v1/alerts" to look at one part alone
EXTRA_ARGS = os.environ.get("HEATLINK_TEST_ST_ARGS", "").split()


@pytest.fixture(scope="module")
async def all_scopes_token(database_url: str) -> str:
    return await make_token(database_url, "cluster-facilitator", Role.ADMIN,
                            scopes=list(Scope), name="schemathesis")


@pytest.fixture(scope="module")
def threaded_service(database_url: str) -> Iterator[str]:
    app = create_app(Settings(database_url=database_url, retention_days=30))
    with warnings.catch_warnings():
        # Built once here, before the server thread: a warning while building it (this
        # session turns warnings into errors) would otherwise come back as a 500.
        warnings.simplefilter("ignore")
        app.openapi()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="critical", lifespan="on"))
    started = threading.Event()

    def run() -> None:
        try:
            asyncio.run(server.serve())
        finally:
            started.set()  # a failed start must not leave the test waiting

    thread = threading.Thread(target=run, name="schemathesis-target", daemon=True)
    thread.start()
    # uvicorn marks itself started from its own loop; poll that flag from this thread.
    deadline = time.monotonic() + 30
    while not server.started and not started.is_set() and time.monotonic() < deadline:
        started.wait(0.05)
    assert server.started, "the service did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.mark.timeout(180)
def test_no_request_makes_a_server_error(threaded_service: str, all_scopes_token: str,
                                         tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ST), "run", f"{threaded_service}/openapi.json",
         "--checks", "not_a_server_error",
         "--exclude-path", "/v1/stream",  # never ends by design; see test_stream.py
         *EXTRA_ARGS,
         "--header", f"Authorization: Bearer {all_scopes_token}",
         "--max-examples", "20", "--phases", "examples,coverage,fuzzing",
         "--suppress-health-check", "filter_too_much", "--seed", "7", "--workers", "1",
         "--no-color", "--request-timeout", "30"],
        capture_output=True, text=True, timeout=170, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
