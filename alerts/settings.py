"""Settings of the alert module, read from ``HEATLINK_ALERTS_*`` environment variables when the
service starts (never at import)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEATLINK_ALERTS_", extra="ignore")

    run_worker: bool = Field(True, description="Run the delivery worker in this process")
    poll_s: float = Field(1.0, gt=0, description="Longest wait between looks at the outbox "
                          "when no wake-up arrives")
    tick_s: float = Field(5.0, gt=0, description="How often escalation, shelf expiry and "
                          "maintenance reminders are checked")
    lease_s: float = Field(30.0, gt=0, description="A claimed delivery is due again after "
                           "this long if its worker died mid-send")
    claim_batch: int = Field(100, gt=0)
    retry_base_s: float = Field(5.0, gt=0, description="First retry delay; doubles each time")
    retry_max_s: float = Field(1800.0, gt=0, description="Longest delay between retries")
    send_timeout_s: float = Field(10.0, gt=0)
    link_secret: str | None = Field(None, description="Key of the signed one-click links; "
                                    "unset: a random key per process (links die on restart)")
    link_ttl_s: float = Field(86400.0, gt=0, description="How long a one-click link works")
    public_url: str = Field("http://127.0.0.1:8000", description="Base of one-click links")
    smtp_url: str | None = Field(None, description="smtp://host:port of the mail relay")
    smtp_from: str = Field("heatlink@localhost")
    smtp_user: str | None = None
    smtp_password: str | None = None
    mqtt_url: str | None = Field(None, description="mqtt://host:port or mqtts://host:port "
                                 "of the broker")
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_ca_file: Path | None = Field(None, description="CA of an mqtts:// broker's "
                                      "certificate; unset: the system's trust store")
