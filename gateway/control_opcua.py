"""`OpcUaWriter`: reads a setpoint node, and writes it and reads it back, each as one
value-returning call.

Connects lazily with the same endpoint, security and credentials as the configured OPC UA
source, and drops the connection after any transport error so the next command starts
afresh. Never raises for what the server answers: a refusal and a mismatch are results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from asyncua import ua as _ua
from asyncua.client.client import Client

from gateway.config import OpcUaSourceConfig
from gateway.opcua_goodbye import disconnect_quickly
from gateway.opcua_security import apply_security

ua: Any = _ua  # asyncua's types are loosely annotated; see opcua_source for the same choice


@dataclass(frozen=True)
class WriteOutcome:
    status: str  # applied | mismatch | refused | rejected | error
    readback: float | None
    detail: str = ""


@dataclass(frozen=True)
class ReadOutcome:
    value: float | None  # None: could not be read (see detail)
    detail: str = ""


class OpcUaWriter:
    def __init__(self, source: OpcUaSourceConfig) -> None:
        self.source = source
        self._client: Client | None = None

    async def _connected(self) -> Client:
        if self._client is None:
            cfg = self.source
            client = Client(cfg.endpoint, timeout=cfg.request_timeout_s)
            if cfg.username:
                client.set_user(cfg.username)
                password = cfg.resolved_password()
                if password:
                    client.set_password(password)
            await apply_security(client, cfg)
            try:
                await client.connect()
            except BaseException:  # a refusal, or a stop while connecting: no half-open socket
                await disconnect_quickly(client)
                raise
            self._client = client
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await disconnect_quickly(client)

    async def read(self, node_id: str) -> ReadOutcome:
        try:
            client = await self._connected()
            return ReadOutcome(float(await client.get_node(node_id).read_value()))
        except (OSError, TimeoutError, ua.UaError, ConnectionError) as exc:
            await self.close()
            return ReadOutcome(None, f"OPC UA: {type(exc).__name__}: {exc}")
        except (TypeError, ValueError) as exc:
            return ReadOutcome(None, f"the node does not hold a number: {exc}")

    async def write(self, node_id: str, value: float, tolerance: float) -> WriteOutcome:
        if not math.isfinite(value):  # the handler refuses it first; this never writes one
            return WriteOutcome("rejected", None, f"value {value} is not finite; not written")
        try:
            client = await self._connected()
            node = client.get_node(node_id)
            refusal = ""
            try:
                await node.write_value(ua.DataValue(ua.Variant(float(value),
                                                               ua.VariantType.Double)))
            except ua.UaStatusCodeError as exc:
                refusal = f"server refused the write: {type(exc).__name__}"
            readback = float(await node.read_value())
        except (OSError, TimeoutError, ua.UaError, ConnectionError) as exc:
            await self.close()
            return WriteOutcome("error", None, f"OPC UA: {type(exc).__name__}: {exc}")
        if refusal:
            return WriteOutcome("refused", readback, refusal)
        if not math.isfinite(readback) or abs(readback - value) > tolerance:
            return WriteOutcome("mismatch", readback,
                                f"read back {readback} after writing {value}")
        return WriteOutcome("applied", readback)
