"""The service's settings, read from ``HEATLINK_*`` environment variables, with control's
(``HEATLINK_CONTROL_*``) and the alerts' (``HEATLINK_ALERTS_*``) as sections of their own.

Every field is documented in README.md; keep the two in step (a test checks it).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.settings import AlertSettings
from heatlink.cluster.loader import EXAMPLE_CLUSTER
from heatlink.commands import DEFAULT_TOPIC_PREFIX


class ControlSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEATLINK_CONTROL_", extra="ignore")

    mqtt_url: str | None = Field(None, description="mqtt://host:port or mqtts://host:port of "
                                 "the command broker; unset: setpoint changes answer 503")
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_ca_file: Path | None = Field(None, description="CA of an mqtts:// broker; the "
                                      "system's when unset")
    client_id: str = Field("heatlink-control", description="the MQTT client id's stem: "
                           "each replica connects as <client_id>-<replica>, so replicas never "
                           "take the broker session from each other")
    replica: str | None = Field(None, description="this replica's name, in its MQTT client "
                                "id and its ramp leases; default <host name>-<process id>. A "
                                "name stable across restarts (a StatefulSet pod's) lets the "
                                "broker keep results that arrive while it is down")
    lease_s: float = Field(15.0, gt=0, description="a running ramp's lease: renewed every "
                           "third of it; when its replica stops renewing, another takes "
                           "the ramp over (held, 'owner lost') after at most this long")
    topic_prefix: str = Field(DEFAULT_TOPIC_PREFIX, description="commands go to "
                              "<prefix>/<gateway>/commands, results come on …/results")
    tick_s: float = Field(1.0, gt=0, description="how often live ramps are looked at "
                          "(wall seconds); results wake the runner at once")
    signing_key_file: Path | None = Field(None, description="the service's Ed25519 private "
                                          "key (heatlink control keygen); unset: setpoint "
                                          "changes answer 503")
    gateway_keys_file: Path | None = Field(None, description="YAML: gateway id -> its public "
                                           "keys (one, two during a rotation); a result "
                                           "not signed by one of its gateway's keys is "
                                           "dropped")
    start_max_age_s: float = Field(900.0, gt=0, description="a ramp starts from the point's "
                                   "last readback or latest good reading only if it is at "
                                   "most this old; otherwise the request answers 409")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEATLINK_", extra="ignore")

    database_url: str | None = Field(
        None, description="PostgreSQL URL. Unset: a private server is started in data_dir.")
    data_dir: Path = Field(Path("var"), description="Folder for the private database server "
                           "and other local state")
    cluster_file: Path = Field(EXAMPLE_CLUSTER, description="The cluster file (YAML)")
    migrate_on_start: bool = Field(True, description="Apply migrations when `serve` starts")
    require_timescaledb: bool = Field(False, description="Refuse to start unless readings "
                                      "live in a TimescaleDB hypertable")
    retention_days: int = Field(400, gt=0, description="Readings older than this are dropped; "
                                "older readings are rejected at ingest")
    chunk_interval_hours: int = Field(24, gt=0, description="TimescaleDB chunk interval")
    retention_check_interval_s: float = Field(3600.0, gt=0,
                                              description="How often old chunks are dropped")
    max_readings_per_batch: int = Field(20_000, gt=0, description="Readings in one ingest batch")
    max_body_bytes: int = Field(16 * 1024 * 1024, gt=0,
                                description="Largest request body, and an ingest body after "
                                "decompression")
    max_future_skew_s: float = Field(300.0, ge=0, description="How far ahead of the service's "
                                     "clock a reading's timestamp may be")
    query_max_points: int = Field(100_000, gt=0, description="Most points one query returns")
    token_cache_ttl_s: float = Field(5.0, ge=0, description="How long a checked token is "
                                     "trusted before it is looked up again (revocation delay)")
    pool_min_size: int = Field(2, ge=1, description="Database pool, fewest connections")
    pool_max_size: int = Field(10, ge=1, description="Database pool, most connections")
    idle_in_transaction_timeout_s: float = Field(
        30.0, gt=0, description="The database ends a transaction of this service idle this "
        "long (a hung replica's), releasing its locks")
    monitor_partitions: int = Field(
        0, ge=0, le=4096, description="0: this replica's monitor evaluates the readings "
        "stored through it (one replica). N > 0: series are divided into N partitions held "
        "by lease among the live replicas (deploy/HA.md); the same N on every replica")
    monitor_lease_s: float = Field(6.0, gt=0, description="Partitioned monitor: a partition "
                                   "whose holder stopped renewing this long moves to another "
                                   "replica (renewed every third of it)")
    log_level: str = Field("INFO", description="Python logging level")
    gc_gen0_threshold: int = Field(50_000, ge=700, description="Allocations between the "
                                   "garbage collector's youngest-generation passes")
    # Sections of their own, each read from its own prefix when the settings are made:
    # create_app(settings) builds alerts and control from these, never from the environment.
    alerts: AlertSettings = Field(default_factory=AlertSettings,
                                  description="HEATLINK_ALERTS_* (README: Alerts)")
    control: ControlSettings = Field(default_factory=ControlSettings,
                                     description="HEATLINK_CONTROL_* (README: Control)")
    session_ttl_s: float = Field(43_200.0, gt=0, description="Longest a login session lasts")
    session_idle_s: float = Field(3600.0, gt=0, description="A session ends after this long "
                                  "without a request")
    stream_ticket_ttl_s: float = Field(120.0, gt=0, description="How long a stream ticket "
                                       "(POST /v1/stream/ticket) may wait to open its stream")
    session_cookie_secure: bool | None = Field(None, description="Mark the session cookie "
                                               "Secure; unset: when the request came over "
                                               "https")
    login_max_failures: int = Field(5, ge=1, description="Failed logins per username within "
                                    "login_window_s before further attempts are refused")
    login_max_failures_per_client: int = Field(20, ge=1, description="Failed logins per client "
                                               "address within login_window_s")
    login_window_s: float = Field(900.0, gt=0, description="Window of the login limits")
