"""Keys of the control channel: made and shown by the CLI, read by both ends, with two
trusted during a rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gateway.cli import app as gateway_cli
from heatlink.cli import app as heatlink_cli
from heatlink.signing import COMMAND_CONTEXT, KeyFileError, SigningKey, TrustedKeys
from services.control.keys import load_gateway_keys


def test_keygen_writes_a_private_key_for_its_owner_only_and_prints_the_public_one(
        tmp_path: Path) -> None:
    runner = CliRunner()
    for command, path in ((["control", "keygen", "--out"], tmp_path / "service.key"),
                          (["gateway", "keygen", "--out"], tmp_path / "gw.key")):
        made = runner.invoke(heatlink_cli, [*command, str(path)])
        assert made.exit_code == 0, made.output
        public = made.output.strip().splitlines()[-1]
        assert public == SigningKey.load(path).public_text
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        again = runner.invoke(heatlink_cli, [*command, str(path)])
        assert again.exit_code == 1
        assert "never overwritten" in again.output
        shown = runner.invoke(gateway_cli, ["pubkey", str(path)])
        assert shown.output.strip() == public


def test_a_key_file_that_is_no_key_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with pytest.raises(KeyFileError, match=r"bad\.key: not an unencrypted PEM private key"):
        SigningKey.load(bad)
    with pytest.raises(KeyFileError, match="cannot read"):
        SigningKey.load(tmp_path / "missing.key")


def test_the_gateway_keys_file_takes_one_key_or_two_during_a_rotation(tmp_path: Path) -> None:
    old, new, other = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    path = tmp_path / "gateway-keys.yaml"
    path.write_text(yaml.safe_dump({"glomfjord-gw1": [old.public_text, new.public_text],
                                    "mo-gw1": [other.public_text]}))
    trusted = load_gateway_keys(path)
    for key, owner in ((old, "glomfjord-gw1"), (new, "glomfjord-gw1"), (other, "mo-gw1")):
        assert trusted.open(COMMAND_CONTEXT, key.sign(COMMAND_CONTEXT, b"{}")) == (owner, b"{}")
    path.write_text(yaml.safe_dump({"glomfjord-gw1": [old.public_text, new.public_text,
                                                      other.public_text]}))
    with pytest.raises(KeyFileError, match="two while one replaces the other"):
        load_gateway_keys(path)
    with pytest.raises(KeyFileError, match="both 'a' and 'b'"):
        TrustedKeys({"a": [old.public_text], "b": [old.public_text]})
