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
