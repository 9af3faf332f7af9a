"""The demo's control keys: the service's and one per gateway, made on the first run in the
data folder and kept, with the gateway keys file the service reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from heatlink.signing import SigningKey


@dataclass(frozen=True)
class DemoKeys:
    service: Path
    service_public: str
    gateways: dict[str, Path]
    gateway_keys_file: Path


def _key(path: Path) -> SigningKey:
    if path.exists():
        return SigningKey.load(path)
    key = SigningKey.generate()
    key.save(path)
    return key


def demo_keys(folder: Path, gateway_ids: Iterable[str], service: Path | None = None
              ) -> DemoKeys:
    """``service``: the service's key file when the user chose one (its gateways must trust
    that one)."""
    service = service or folder / "service.key"
    gateways = {g: folder / f"{g}.key" for g in gateway_ids}
    publics = {g: [_key(path).public_text] for g, path in gateways.items()}
    keys_file = folder / "gateway-keys.yaml"
    keys_file.write_text("# gateway id -> public keys of its results (two during a rotation)\n"
                         + yaml.safe_dump(publics, sort_keys=True))
    return DemoKeys(service, _key(service).public_text, gateways, keys_file)
