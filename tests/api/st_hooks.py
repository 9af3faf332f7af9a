"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS): each operation is called with the
token of the caller who may do it (``roles.caller_for``); the tokens come in
HEATLINK_ST_TOKENS as JSON."""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis

from tests.api.roles import caller_for

TOKENS: dict[str, str] = json.loads(os.environ.get("HEATLINK_ST_TOKENS", "{}"))


@schemathesis.auth(refresh_interval=None, retry_on=[])
class TokenByCaller:
    def get(self, case: Any, context: Any) -> str:
        operation = context.operation
        return TOKENS[caller_for(operation.method, operation.path)]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
