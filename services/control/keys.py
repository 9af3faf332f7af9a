"""The control channel's keys on the service's side: its own signing key and the public
keys of the gateways, read once at start (a rotation restarts the service)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from heatlink.signing import KeyFileError, SigningKey, TrustedKeys
from services.settings import ControlSettings


@dataclass(frozen=True)
class ControlKeys:
    signing: SigningKey | None
    gateways: TrustedKeys

    def missing(self, gateway: str) -> str | None:
        """Why commands to ``gateway`` cannot be sent safely now, or None."""
        if self.signing is None:
            return ("no signing key for commands: create one with `heatlink control keygen` "
                    "and set HEATLINK_CONTROL_SIGNING_KEY_FILE")
        if gateway not in self.gateways.owners():
            return (f"no public key of gateway {gateway!r}, so its answers could not be "
                    "trusted: add it to HEATLINK_CONTROL_GATEWAY_KEYS_FILE")
        return None


def load_gateway_keys(path: Path) -> TrustedKeys:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise KeyFileError(f"{path}: cannot read the gateway keys: {exc}") from None
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and 1 <= len(v) <= 2
            and all(isinstance(t, str) for t in v) for k, v in data.items()):
        raise KeyFileError(f"{path}: expected 'gateway-id: [ed25519:..., ...]' with one key "
                           "per gateway, two while one replaces the other")
    return TrustedKeys(data)


def load_keys(settings: ControlSettings) -> ControlKeys:
    signing = (SigningKey.load(settings.signing_key_file)
               if settings.signing_key_file is not None else None)
    gateways = (load_gateway_keys(settings.gateway_keys_file)
                if settings.gateway_keys_file is not None else TrustedKeys({}))
    return ControlKeys(signing, gateways)
