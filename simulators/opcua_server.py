"""The simulated cluster's OPC UA server (asyncua), one per simulation.

Address space: ``Objects/<site>/<company>/<asset>[/<side>]/<signal>``; every variable's
node id is ``ns=2;s=<series key>``, a Double with EngineeringUnits (UNECE codes) and
EURange properties. Values carry the sensor's source timestamp and a status code from
the reading's quality. Setpoints are writable variables; writes reach the physics
through ``on_write``. ``refuse_writes`` makes a setpoint read-only, so a client's write
comes back BadUserAccessDenied, as a plant in local control would answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asyncua import ua as _ua
from asyncua.common.node import Node
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.server import Server

from simulators.catalog import SeriesInfo, SetpointInfo
from simulators.certs import SERVER_APPLICATION_URI, ensure_certificate

log = logging.getLogger(__name__)
# asyncua's ua package re-exports its types implicitly and types timestamps and integers
# as its own subclasses; treating it as Any keeps strict mypy useful for the rest.
ua: Any = _ua

NAMESPACE_URI = "urn:heatlink:simulator:nordland"
UNITS_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
# unit in the cluster file -> (UNECE common code, display name)
UNECE_UNITS: dict[str, tuple[str, str]] = {
    "degC": ("CEL", "°C"),
    "m3/h": ("MQH", "m³/h"),
    "l/s": ("G51", "l/s"),
    "kW": ("KWT", "kW"),
    "kWh": ("KWH", "kWh"),
    "%": ("P1", "%"),
}
STATUS_BY_QUALITY: dict[str, int] = {
    "good": ua.StatusCodes.Good,
    "uncertain": ua.StatusCodes.Uncertain,
    "bad": ua.StatusCodes.Bad,
}
READ = ua.AccessLevel.CurrentRead.mask
READ_WRITE = ua.AccessLevel.CurrentRead.mask | ua.AccessLevel.CurrentWrite.mask


def node_id_for(key: str) -> str:
    return f"ns=2;s={key}"


def unece_unit_id(code: str) -> int:
    """OPC 10000-8: the UnitId packs the UNECE common code's characters into an Int32."""
    value = 0
    for char in code:
        value = (value << 8) | ord(char)
    return value


def eu_information(unit: str) -> ua.EUInformation:
    code, display = UNECE_UNITS[unit]
    return ua.EUInformation(NamespaceUri=UNITS_NAMESPACE, UnitId=unece_unit_id(code),
                            DisplayName=ua.LocalizedText(display),
                            Description=ua.LocalizedText(unit))


@dataclass(frozen=True)
class OpcUaSecurity:
    """Endpoints to offer. ``cert_dir`` holds the server's certificate (made on first use)
    and ``trusted/``, the client certificates it accepts; without it only None is offered."""

    cert_dir: Path | None = None
    allow_none: bool = True
    users: dict[str, str] = field(default_factory=dict)  # username -> password; empty: anonymous

    @property
    def trusted_dir(self) -> Path | None:
        return self.cert_dir / "trusted" if self.cert_dir else None


class _PasswordUsers:
    """asyncua user manager: the configured users, or anyone when none are configured."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if not self.users:
            return User(role=UserRole.User)
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class SimOpcUaServer:
    def __init__(self, *, port: int, series: Sequence[SeriesInfo],
                 setpoints: Sequence[SetpointInfo], setpoint_values: dict[str, float],
                 on_write: Callable[[str, float], object],
                 security: OpcUaSecurity | None = None, host: str = "127.0.0.1",
                 history: timedelta | None = None) -> None:
        self.port = port
        self.host = host
        self.series = list(series)
        self.setpoints = list(setpoints)
        self.setpoint_values = dict(setpoint_values)
        self.on_write = on_write
        self.security = security or OpcUaSecurity()
        # Keep this much of each series' history (in memory), readable with HistoryRead.
        self.history = history
        self.refused: set[str] = set()
        self._last: dict[str, ua.DataValue] = {}
        self._server: Server | None = None
        self._nodes: dict[str, ua.NodeId] = {}

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/heatlink/sim/"

    async def start(self) -> None:
        server = Server(user_manager=_PasswordUsers(self.security.users))  # type: ignore[arg-type]
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("heatlink simulated cluster")
        await server.set_application_uri(SERVER_APPLICATION_URI)
        await self._configure_security(server)
        ns = await server.register_namespace(NAMESPACE_URI)
        if ns != 2:
            raise RuntimeError(f"expected namespace index 2, got {ns}")
        await self._build(server)
        await server.start()
        if self.history is not None:
            await self._historize(server)
        self._server = server

    async def _historize(self, server: Server) -> None:
        """Keep every published sample readable with HistoryRead. asyncua's own
        ``historize_node_data_change`` samples through a subscription with a queue of one,
        which keeps only the last of a burst of samples; `publish` stores each one instead,
        in asyncua's history storage, with the same node attributes set."""
        storage = server.iserver.history_manager.storage
        for info in self.series:
            node = server.get_node(self._nodes[info.key])
            await storage.new_historized_node(node.nodeid, self.history)
            await node.write_attribute(ua.AttributeIds.Historizing, ua.DataValue(True))
            for attr in (ua.AttributeIds.AccessLevel, ua.AttributeIds.UserAccessLevel):
                await node.set_attr_bit(attr, ua.AccessLevel.HistoryRead)

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()

    async def _configure_security(self, server: Server) -> None:
        sec = self.security
        policies = [ua.SecurityPolicyType.NoSecurity] if sec.allow_none else []
        if sec.cert_dir is not None and sec.trusted_dir is not None:
            pair = ensure_certificate(sec.cert_dir, "server", SERVER_APPLICATION_URI, server=True)
            await server.load_certificate(str(pair.cert_path))
            await server.load_private_key(str(pair.key_path))
            policies += [ua.SecurityPolicyType.Basic256Sha256_Sign,
                         ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
            sec.trusted_dir.mkdir(parents=True, exist_ok=True)
            store = TrustStore([sec.trusted_dir], [])
            await store.load()
            options = (CertificateValidatorOptions.TIME_RANGE | CertificateValidatorOptions.URI
                       | CertificateValidatorOptions.TRUSTED)
            server.set_certificate_validator(CertificateValidator(options, store))
        server.set_security_policy(policies)
        if sec.users:
            server.set_identity_tokens([ua.UserNameIdentityToken])

    async def _build(self, server: Server) -> None:
        objects = server.get_objects_node()
        folders: dict[str, Node] = {}

        async def parent_of(key: str) -> Node:
            parts = key.split("/")[:-1]
            node = objects
            for depth in range(1, len(parts) + 1):
                path = "/".join(parts[:depth])
                if path not in folders:
                    folders[path] = await node.add_object(f"ns=2;s={path}", f"2:{parts[depth - 1]}")
                node = folders[path]
            return node

        for info in self.series:
            parent = await parent_of(info.key)
            # Timestamped, as a server would: asyncua's history store needs one on each value.
            now = datetime.now(UTC)
            initial = self._last.get(info.key) or ua.DataValue(
                ua.Variant(None, ua.VariantType.Null),
                StatusCode=ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData),
                SourceTimestamp=now, ServerTimestamp=now)
            name = info.key.rsplit("/", 1)[1]
            var = await parent.add_variable(node_id_for(info.key), f"2:{name}", 0.0,
                                            varianttype=ua.VariantType.Double)
            await self._describe(var, info.unit, info.low, info.high, info.description)
            await server.write_attribute_value(var.nodeid, initial)
            self._nodes[info.key] = var.nodeid
        for sp in self.setpoints:
            parent = await parent_of(sp.key)
            var = await parent.add_variable(node_id_for(sp.key), f"2:{sp.key.rsplit('/', 1)[1]}",
                                            float(self.setpoint_values[sp.key]),
                                            varianttype=ua.VariantType.Double)
            await var.set_writable(sp.key not in self.refused)
            await self._describe(var, sp.unit, sp.low, sp.high, sp.description)
            server.set_attribute_value_setter(var.nodeid, self._setter(sp))
            self._nodes[sp.key] = var.nodeid

    async def _describe(self, var: Node, unit: str, low: float, high: float,
                        description: str) -> None:
        # Standard properties of an AnalogItem: browse names in namespace 0 (OPC 10000-8).
        await var.add_property(0, "EngineeringUnits", eu_information(unit),
                               datatype=ua.NodeId(ua.ObjectIds.EUInformation))
        await var.add_property(0, "EURange", ua.Range(Low=low, High=high),
                               datatype=ua.NodeId(ua.ObjectIds.Range))
        if description:
            await var.write_attribute(ua.AttributeIds.Description, ua.DataValue(
                ua.Variant(ua.LocalizedText(description), ua.VariantType.LocalizedText)))

    def _setter(self, info: SetpointInfo) -> Callable[[Any, ua.AttributeIds, ua.DataValue], None]:
        def store(node: Any, attr: ua.AttributeIds, value: ua.DataValue) -> None:
            raw = value.Value.Value if value.Value is not None else None
            if not isinstance(raw, float) or not info.low <= raw <= info.high:
                # A plant rejects a setpoint outside its range rather than clamping it.
                raise ServiceError(ua.StatusCodes.BadOutOfRange)
            node.attributes[attr].value = value
            self.setpoint_values[info.key] = raw
            self.on_write(info.key, raw)
        return store

    async def publish(self, key: str, ts: datetime, value: float, quality: str) -> None:
        """Write one sample; a no-op while the server is stopped (its last value is kept)."""
        dv = ua.DataValue(ua.Variant(value, ua.VariantType.Double),
                          StatusCode=ua.StatusCode(STATUS_BY_QUALITY[quality]),
                          SourceTimestamp=ts, ServerTimestamp=datetime.now(UTC))
        self._last[key] = dv
        if self._server is not None:
            await self._server.write_attribute_value(self._nodes[key], dv)
            if self.history is not None:
                await self._server.iserver.history_manager.storage.save_node_value(
                    self._nodes[key], dv)

    async def refuse_writes(self, key: str, refuse: bool = True) -> None:
        """Make a setpoint read-only (``refuse``) or writable again."""
        if refuse:
            self.refused.add(key)
        else:
            self.refused.discard(key)
        if self._server is not None:
            level = ua.DataValue(ua.Variant(READ if refuse else READ_WRITE, ua.VariantType.Byte))
            for attr in (ua.AttributeIds.AccessLevel, ua.AttributeIds.UserAccessLevel):
                await self._server.write_attribute_value(self._nodes[key], level, attr)
