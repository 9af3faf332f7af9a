"""Schemathesis over every operation of the running service, with the token of the caller
each operation is meant for: no 5xx, and every answer as the OpenAPI document describes it
(status, content type, headers, body schema, each event of the stream), a request the
document calls invalid refused, and stateful runs along the document's links.
Deterministic: the same cases every run. Per-operation settings: schemathesis.toml.

Schemathesis runs in a child process against the service in this test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.service import AppHandle

ST = Path(sys.executable).with_name("st")
ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
# e.g. HEATLINK_TEST_ST_ARGS="--include-path-regex ^/v1/alerts" to look at one part alone
EXTRA_ARGS = os.environ.get("HEATLINK_TEST_ST_ARGS", "").split()


@pytest.mark.timeout(240)
async def test_the_fuzzer_finds_no_server_error_and_no_schema_violation(
        api_service: AppHandle, api_tokens: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.st_hooks",
           "HEATLINK_ST_TOKENS": json.dumps(api_tokens),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    fuzzer = await asyncio.create_subprocess_exec(
        str(ST), "--config-file", str(CONFIG), "run", f"{api_service.url}/openapi.json",
        "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "15",
        "--generation-deterministic", "--workers", "1",
        "--suppress-health-check", "all", "--no-color", "--request-timeout", "30",
        *EXTRA_ARGS,
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(fuzzer.communicate(), timeout=220)
    finally:
        if fuzzer.returncode is None:
            fuzzer.kill()
            await fuzzer.wait()
    report = output.decode(errors="replace")
    assert fuzzer.returncode == 0, report[-8000:]
