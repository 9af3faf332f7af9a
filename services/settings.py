"""The service's settings, read from ``HEATLINK_*`` environment variables.

Every field is documented in README.md; keep the two in step (a test checks it).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.cluster.loader import EXAMPLE_CLUSTER


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
    log_level: str = Field("INFO", description="Python logging level")
    gc_gen0_threshold: int = Field(50_000, ge=700, description="Allocations between the "
                                   "garbage collector's youngest-generation passes")
    session_ttl_s: float = Field(43_200.0, gt=0, description="Longest a login session lasts")
    session_idle_s: float = Field(3600.0, gt=0, description="A session ends after this long "
                                  "without a request")
    session_cookie_secure: bool | None = Field(None, description="Mark the session cookie "
                                               "Secure; unset: when the request came over "
                                               "https")
    login_max_failures: int = Field(5, ge=1, description="Failed logins per username within "
                                    "login_window_s before further attempts are refused")
    login_max_failures_per_client: int = Field(20, ge=1, description="Failed logins per client "
                                               "address within login_window_s")
    login_window_s: float = Field(900.0, gt=0, description="Window of the login limits")
