"""The gateway's configuration file (YAML), checked strictly: a typo is an error naming its path.

Secrets may be given inline or, better, by the name of an environment variable
(`password_env`, `token_env`) so the file can be shared.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from heatlink.units import UNITS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigError(ValueError):
    """The file cannot be used; the message names the file and the path inside it."""


class BackoffConfig(Strict):
    initial_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(default=30.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1)


def _known_unit(unit: str) -> str:
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; known units: {', '.join(UNITS)}")
    return unit


# The unit the plant measures in, when it is not the series' own: the service converts.
Unit = Annotated[str, AfterValidator(_known_unit)]


class OpcUaNode(Strict):
    node_id: str = Field(description="e.g. ns=2;s=glomfjord/smelter/hx1/primary/supply_temp")
    series: str
    unit: Unit | None = Field(default=None, description="unit of the node's values; "
                              "unset: the node's EngineeringUnits, if it has them")


class Deadband(Strict):
    kind: Literal["absolute", "percent"] = "absolute"
    value: float = Field(ge=0)


class OpcUaSecurity(Strict):
    policy: Literal["None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss"] = "None"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    certificate: Path | None = Field(default=None, description="the gateway's application "
                                     "certificate, DER or PEM (`heatlink gateway cert`)")
    private_key: Path | None = None
    server_certificate: Path | None = Field(default=None, description="pin exactly this "
                                            "server certificate instead of the trust list")
    trusted_certificates: Path = Field(default=Path("pki/trusted/certs"), description=
                                       "the trust list: server certificates (or their CAs) "
                                       "the gateway accepts, DER or PEM")
    rejected_certificates: Path = Field(default=Path("pki/rejected/certs"), description=
                                        "refused server certificates are saved here to be "
                                        "checked and moved into the trust list")
    trust_on_first_use: bool = Field(default=False, description="accept the first "
                                     "certificate a server shows, pin it in the trust list "
                                     "and log its fingerprint; any other one is refused")
    application_uri: str = Field(default="urn:heatlink:gateway", description="must be the "
                                 "URI in the gateway certificate's SubjectAltName")

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaSecurity:
        if (self.policy == "None") != (self.mode == "None"):
            raise ValueError("policy and mode must both be None or both be set")
        if self.policy != "None" and (self.certificate is None or self.private_key is None):
            raise ValueError("a secure policy needs certificate and private_key")
        return self


class HistoryFill(Strict):
    """After a reconnect, read what the server historized while the gateway was away."""

    enabled: bool = True
    max_span_s: float = Field(default=3600.0, gt=0, description="the longest gap read back; "
                              "an older start is moved up to this")
    max_values_per_node: int = Field(default=10_000, ge=1)
    timeout_s: float = Field(default=30.0, gt=0, description="for the whole read of one gap")


class OpcUaSourceConfig(Strict):
    kind: Literal["opcua"]
    name: str
    endpoint: str = Field(pattern=r"^opc\.tcp://")
    security: OpcUaSecurity = Field(default_factory=OpcUaSecurity)
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    publishing_interval_ms: float = Field(default=100.0, gt=0)
    sampling_interval_ms: float = Field(default=100.0, ge=0)
    queue_size: int = Field(default=10, ge=1, description="values kept per item between publishes")
    deadband: Deadband | None = None
    trigger: Literal["status_value_timestamp", "status_value"] = Field(
        default="status_value_timestamp",
        description="status_value drops a repeated value even when its source timestamp is new")
    watchdog_s: float = Field(default=10.0, gt=0,
                              description="rebuild a subscription silent this long")
    request_timeout_s: float = Field(default=4.0, gt=0)
    reconnect: BackoffConfig = Field(default_factory=BackoffConfig)
    history: HistoryFill = Field(default_factory=HistoryFill)
    nodes: list[OpcUaNode] = Field(min_length=1)

    def resolved_password(self) -> str | None:
        if self.password_env:
            return os.environ.get(self.password_env)
        return self.password


class JsonPayload(Strict):
    format: Literal["json"] = "json"
    value_path: str = "value"
    ts_path: str | None = Field(default="ts",
                                description="None: the gateway's receive time is used")
    quality_path: str | None = "quality"
    ts_epoch_unit: Literal["s", "ms"] = Field(default="s",
                                              description="when the timestamp is a number")


class NumberPayload(Strict):
    format: Literal["number"]


class MqttTopic(Strict):
    filter: str = Field(description="MQTT filter with + and #, e.g. heatlink-sim/#")
    series: str = Field(description="template: {0}, {1}… are the wildcard parts in order "
                        "(# gives the rest of the topic), {topic} the whole topic")
    payload: Annotated[JsonPayload | NumberPayload, Field(discriminator="format")] = Field(
        default_factory=JsonPayload)
    unit: Unit | None = None

    @model_validator(mode="after")
    def _template_fits(self) -> MqttTopic:
        levels = self.filter.split("/")
        if "#" in levels[:-1] or any(("+" in lv or "#" in lv) and len(lv) > 1 for lv in levels):
            raise ValueError(f"not a valid MQTT topic filter: {self.filter!r}")
        wildcards = sum(lv in ("+", "#") for lv in levels)
        for ref in re.findall(r"{([^}]*)}", self.series):
            if ref != "topic" and not (ref.isdigit() and int(ref) < wildcards):
                raise ValueError(f"series template refers to {{{ref}}} but the filter has "
                                 f"{wildcards} wildcard(s)")
        return self


class MqttConnection(Strict):
    """A broker connection: what the MQTT and Sparkplug sources share."""

    url: str = Field(pattern=r"^mqtts?://", description="mqtt://host:1883 or mqtts://host:8883")
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    ca_file: Path | None = Field(default=None, description="CA of the broker's certificate "
                                 "(mqtts); unset: the system's trust store")
    session_expiry_s: int = Field(default=86_400, ge=1)
    receive_maximum: int = Field(default=4096, ge=1, le=65_535,
                                 description="unacknowledged messages the broker may send us")
    keepalive_s: int = Field(default=30, ge=5)
    reconnect: BackoffConfig = Field(default_factory=BackoffConfig)

    def resolved_password(self) -> str | None:
        if self.password_env:
            return os.environ.get(self.password_env)
        return self.password


class MqttSourceConfig(MqttConnection):
    kind: Literal["mqtt"]
    name: str
    client_id: str = Field(description="fixed, so the broker keeps our persistent session")
    topics: list[MqttTopic] = Field(min_length=1)


class SparkplugMetric(Strict):
    node: str = Field(description="edge node id")
    device: str | None = Field(default=None, description="device id; unset: a metric of "
                               "the edge node itself")
    metric: str = Field(description="metric name as in the birth certificate, e.g. "
                        "Primary/SupplyTemp")
    series: str
    unit: Unit | None = Field(default=None, description="unit of the values; unset: the "
                              "unit the birth certificate gives, if any")


class SparkplugSourceConfig(MqttConnection):
    """Sparkplug B 3.0 (spBv1.0): this gateway as a host application of one group."""

    kind: Literal["sparkplug"]
    name: str
    group_id: str = Field(pattern=r"^[^/+#]+$")
    host_id: str | None = Field(default=None, pattern=r"^[^/+#]+$", description=
                                "publish STATE as this primary host application; edge nodes "
                                "configured for it wait for it before their births")
    client_id: str | None = Field(default=None, description="fixed, so the broker keeps "
                                  "our persistent session; default heatlink-<host_id or name>")
    reorder_timeout_s: float = Field(default=5.0, gt=0, description="how long a gap in an "
                                     "edge node's seq may stay open before a rebirth request")
    rebirth: bool = Field(default=True, description="send NCMD Node Control/Rebirth after a "
                          "gap or data from a node whose birth was not seen")
    metrics: list[SparkplugMetric] = Field(min_length=1)

    @property
    def session_client_id(self) -> str:
        return self.client_id or f"heatlink-{self.host_id or self.name}"

    @model_validator(mode="after")
    def _unique_metrics(self) -> SparkplugSourceConfig:
        seen: set[tuple[str, str | None, str]] = set()
        for m in self.metrics:
            key = (m.node, m.device, m.metric)
            if key in seen:
                raise ValueError(f"metric {m.metric!r} of {m.node}/{m.device or '-'} is "
                                 "listed twice")
            seen.add(key)
        return self


SourceConfig = Annotated[OpcUaSourceConfig | MqttSourceConfig | SparkplugSourceConfig,
                         Field(discriminator="kind")]


class BufferConfig(Strict):
    path: Path
    max_bytes: int = Field(default=512 * 1024 * 1024, ge=256 * 1024, description=
                           "disk quota of the buffer's files (database, WAL and its index); "
                           "over it the oldest readings not in flight are dropped")
    synchronous: Literal["full", "normal"] = Field(default=
        "full", description="full survives a power cut; normal only a process crash")


ServiceUrl = Annotated[str, Field(pattern=r"^https?://")]


class UplinkConfig(Strict):
    url: ServiceUrl | None = Field(default=None, description="base URL of the service")
    urls: list[ServiceUrl] = Field(default_factory=list, description=
                                   "base URLs of several replicas of the service (after `url` "
                                   "when both are given): a batch goes to the one that last "
                                   "answered, and to the next when it fails")
    gateway_id: str
    token: str | None = None
    token_env: str | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    batch_max_readings: int = Field(default=5000, ge=1, le=20_000)
    lanes: int = Field(default=2, ge=1, le=8, description=
                       "requests in flight at once when the buffer holds more than one "
                       "batch: the gateway writes the next while the service stores the "
                       "last (each series in one lane, so in order)")
    gzip: bool = True
    retry: BackoffConfig = Field(default_factory=BackoffConfig)
    auth_retry_s: float = Field(default=60.0, gt=0, description="wait after a 401/403")
    ready_probe_s: float = Field(default=0.5, gt=0, description=
                                 "in an outage (503, no connection) ask the service's /readyz "
                                 "this often while waiting, and send again once it is ready")
    dead_letter_path: Path

    @model_validator(mode="after")
    def _has_token(self) -> UplinkConfig:
        if not (self.token or self.token_env):
            raise ValueError("give token or token_env")
        if not self.service_urls():
            raise ValueError("give url (one service) or urls (its replicas)")
        return self

    def service_urls(self) -> list[str]:
        """`url`, then `urls`, each once, in the order given."""
        given = ([self.url] if self.url else []) + self.urls
        return list(dict.fromkeys(u.rstrip("/") for u in given))

    def resolved_token(self) -> str:
        if self.token_env:
            return os.environ.get(self.token_env, "")
        return self.token or ""


class HttpConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65_535, description="0 picks a free port")


class WritableNode(Strict):
    """A node the gateway may write, with the bounds it enforces itself, whatever the
    service sends: the plant's last line of defence."""

    node_id: str
    range: tuple[float, float] = Field(description="[min, max] the node may be set to")
    max_rate_per_h: float = Field(gt=0, allow_inf_nan=False, description="units per hour "
                                  "the node may move over any stretch of time (plus one "
                                  "max_step)")
    max_step: float = Field(gt=0, allow_inf_nan=False, description="most the node may move "
                            "in one command, from the value read just before it")

    @model_validator(mode="after")
    def _ordered(self) -> WritableNode:
        low, high = self.range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"range {list(self.range)} must be finite [min, max], min < max")
        return self


class ControlConfig(Strict):
    """Setpoint commands from the service (optional; without this section the gateway only
    reads). Commands come over MQTT because the plant accepts no inbound connection."""

    mqtt_url: str = Field(pattern=r"^mqtts?://", description="broker the service publishes to")
    client_id: str = Field(description="fixed, so the broker keeps commands sent while we "
                           "are away (each is still checked against its expiry)")
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    ca_file: Path | None = None
    topic_prefix: str = "heatlink/control"
    session_expiry_s: int = Field(default=86_400, ge=1)
    opcua_source: str = Field(description="name of the OPC UA source whose endpoint, "
                              "security and credentials are used for writes")
    writable_nodes: list[WritableNode] = Field(min_length=1, description="the only nodes "
                                               "the gateway will write, each with its bounds")
    signing_key: Path = Field(description="this gateway's Ed25519 private key (PEM), which "
                              "signs its results: heatlink gateway keygen")
    trusted_keys: list[str] = Field(min_length=1, max_length=2, description="the service's "
                                    "public keys ('ed25519:…'); two only while one replaces "
                                    "the other")
    state_path: Path | None = Field(None, description="where the last command number and "
                                    "answers are kept across restarts; default next to the "
                                    "buffer")
    audit_path: Path | None = Field(None, description="JSON lines, one per command decided "
                                    "or dropped; default next to the buffer")

    @model_validator(mode="after")
    def _unique_nodes(self) -> ControlConfig:
        ids = [n.node_id for n in self.writable_nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"writable_nodes must name each node once, got {ids}")
        return self

    @model_validator(mode="after")
    def _keys_readable(self) -> ControlConfig:
        from heatlink.signing import KeyFileError, parse_public

        for text in self.trusted_keys:
            try:
                parse_public(text)
            except KeyFileError as exc:
                raise ValueError(f"trusted_keys: {exc}") from None
        return self

    def resolved_password(self) -> str | None:
        if self.password_env:
            return os.environ.get(self.password_env)
        return self.password


class GatewayConfig(Strict):
    sources: list[SourceConfig] = Field(min_length=1)
    buffer: BufferConfig
    uplink: UplinkConfig
    http: HttpConfig = Field(default_factory=HttpConfig)
    control: ControlConfig | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> GatewayConfig:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        return self

    @model_validator(mode="after")
    def _control_source_exists(self) -> GatewayConfig:
        if self.control is not None and not any(
                isinstance(s, OpcUaSourceConfig) and s.name == self.control.opcua_source
                for s in self.sources):
            raise ValueError(f"control.opcua_source {self.control.opcua_source!r} is not an "
                             "OPC UA source of this file")
        return self

    def unset_secrets(self) -> list[str]:
        """Each `password_env` or `token_env` that names a variable that is not set, in
        words: the gateway would otherwise connect without the secret and the server's
        refusal would blame the credentials."""
        named: list[tuple[str, str | None]] = [
            (f"sources.{i}.password_env", s.password_env) for i, s in enumerate(self.sources)]
        named.append(("uplink.token_env", self.uplink.token_env))
        if self.control is not None:
            named.append(("control.password_env", self.control.password_env))
        return [f"{where}: environment variable {var} is not set" for where, var in named
                if var and os.environ.get(var) is None]

    def control_source(self) -> OpcUaSourceConfig | None:
        """The OPC UA source whose connection settings the control path writes with."""
        for s in self.sources:
            if (self.control is not None and isinstance(s, OpcUaSourceConfig)
                    and s.name == self.control.opcua_source):
                return s
        return None


def parse_config(data: object, origin: str = "<config>") -> GatewayConfig:
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top)"
            lines.append(f"{origin}: {where}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def load_config(path: Path) -> GatewayConfig:
    """Read and check a config file. Relative paths in it are relative to the file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML: {exc}") from None
    config = parse_config(data, str(path))
    return _relative_to(config, path.parent)


def _relative_to(config: GatewayConfig, base: Path) -> GatewayConfig:
    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    sources: list[OpcUaSourceConfig | MqttSourceConfig | SparkplugSourceConfig] = []
    for s in config.sources:
        if isinstance(s, OpcUaSourceConfig):
            sec = s.security.model_copy(update={
                "certificate": fix(s.security.certificate),
                "private_key": fix(s.security.private_key),
                "server_certificate": fix(s.security.server_certificate),
                "trusted_certificates": fix(s.security.trusted_certificates),
                "rejected_certificates": fix(s.security.rejected_certificates)})
            sources.append(s.model_copy(update={"security": sec}))
        else:
            sources.append(s.model_copy(update={"ca_file": fix(s.ca_file)}))
    control = config.control
    if control is not None:
        control = control.model_copy(update={
            "ca_file": fix(control.ca_file), "signing_key": fix(control.signing_key),
            "state_path": fix(control.state_path), "audit_path": fix(control.audit_path)})
    return config.model_copy(update={
        "control": control,
        "sources": sources,
        "buffer": config.buffer.model_copy(update={"path": fix(config.buffer.path)}),
        "uplink": config.uplink.model_copy(
            update={"dead_letter_path": fix(config.uplink.dead_letter_path)}),
    })
