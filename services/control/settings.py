"""Control settings, read from ``HEATLINK_CONTROL_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from heatlink.commands import DEFAULT_TOPIC_PREFIX


class ControlSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEATLINK_CONTROL_", extra="ignore")

    mqtt_url: str | None = Field(None, description="mqtt://host:port or mqtts://host:port of "
                                 "the command broker; unset: setpoint changes answer 503")
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_ca_file: Path | None = Field(None, description="CA of an mqtts:// broker; the "
                                      "system's when unset")
    client_id: str = Field("heatlink-control", description="fixed, so the broker keeps "
                           "results that arrive while the service is down")
    topic_prefix: str = Field(DEFAULT_TOPIC_PREFIX, description="commands go to "
                              "<prefix>/<gateway>/commands, results come on …/results")
    tick_s: float = Field(1.0, gt=0, description="how often live ramps are looked at "
                          "(wall seconds); results wake the runner at once")
