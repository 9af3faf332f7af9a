"""OPC UA trust by default (issue 12), against the simulator's secure server: the gateway
talks only to a server whose certificate is in its trust list (or pinned, or, when asked
for, trusted on first use), and every refusal says in one line what is wrong and what to
do. Before, a swapped server was accepted silently and refusals read `AssertionError`,
`BadTcpInternalError` or gave the wrong advice."""

from __future__ import annotations

import logging
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from typer.testing import CliRunner

from gateway.cli import app
from gateway.opcua_trust import fingerprint, load_certificate, uris
from gateway.testing import RecordingUplink
from services.storage.local_postgres import free_port
from simulators.certs import SERVER_APPLICATION_URI, ensure_certificate, trust
from simulators.live import LiveSimulation
from simulators.opcua_server import OpcUaSecurity
from tests.gateway.support import config_for, eventually, running

SERIES = "glomfjord/smelter/hx1/primary/supply_temp"
GATEWAY_URI = "urn:heatlink:gateway"


def make_cert(pki: Path, name: str, uri: str = GATEWAY_URI) -> tuple[Path, Path]:
    """A gateway certificate, made with `heatlink gateway cert`."""
    cert, key = pki / "own" / "certs" / f"{name}.der", pki / "own" / "private" / f"{name}.pem"
    made = CliRunner().invoke(app, ["cert", "--application-uri", uri, "--certificate",
                                    str(cert), "--private-key", str(key)])
    assert made.exit_code == 0, made.output
    return cert, key


def test_gateway_cert_makes_a_certificate_with_the_application_uri(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path / "pki", "gateway", "urn:fjordsmolt:gw1")
    made = load_certificate(cert)
    assert uris(made) == ["urn:fjordsmolt:gw1"]
    usage = made.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_encipherment
    assert usage.data_encipherment
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = CliRunner().invoke(app, ["cert", "--application-uri", "urn:fjordsmolt:gw1",
                                     "--certificate", str(cert), "--private-key", str(key)])
    assert "exists" in again.output
    assert fingerprint(load_certificate(cert)) == fingerprint(made)  # not replaced


def source(endpoint: str, name: str, cert: tuple[Path, Path], **security: Any
           ) -> dict[str, Any]:
    return {"kind": "opcua", "name": name, "endpoint": endpoint,
            "security": {"policy": "Basic256Sha256", "mode": "SignAndEncrypt",
                         "certificate": str(cert[0]), "private_key": str(cert[1]),
                         "application_uri": GATEWAY_URI,
                         "rejected_certificates": str(cert[0].parents[2] / "rejected" / "certs"),
                         **security},
            "reconnect": {"initial_s": 0.2, "max_s": 0.5},
            "nodes": [{"node_id": f"ns=2;s={SERIES}", "series": SERIES}]}


async def test_the_gateway_trusts_only_listed_pinned_or_first_seen_servers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pki = tmp_path / "pki"
    server_dir = tmp_path / "server"
    gateway_cert = make_cert(pki, "gateway")
    stranger = make_cert(pki, "stranger")            # the server does not trust it
    wrong_uri = make_cert(pki, "wrong-uri", "urn:someone:else")
    trust(server_dir / "trusted", gateway_cert[0])
    trust(server_dir / "trusted", wrong_uri[0])
    first = ensure_certificate(server_dir, "server", SERVER_APPLICATION_URI, server=True)
    listed = pki / "trusted" / "certs"
    trust(listed, first.cert_path)
    pinned = trust(pki / "pinned", first.cert_path)
    empty, rejected, tofu = pki / "empty", pki / "rejected" / "certs", pki / "tofu"
    sim = LiveSimulation("normal-day", speed=60.0, opcua_port=free_port(), run_forever=True,
                         opcua_security=OpcUaSecurity(cert_dir=server_dir, allow_none=False))
    endpoint = sim.opcua_endpoint
    config = config_for(tmp_path, [
        source(endpoint, "listed", gateway_cert, trusted_certificates=str(listed)),
        source(endpoint, "unlisted", gateway_cert, trusted_certificates=str(empty),
               rejected_certificates=str(rejected)),
        source(endpoint, "tofu", gateway_cert, trusted_certificates=str(tofu),
               trust_on_first_use=True),
        source(endpoint, "pinned", gateway_cert, server_certificate=str(pinned)),
        source(endpoint, "wrong-uri", wrong_uri, trusted_certificates=str(listed)),
        source(endpoint, "stranger", stranger, trusted_certificates=str(listed)),
    ])
    caplog.set_level(logging.WARNING, logger="gateway.opcua_trust")
    async with sim, running(config, RecordingUplink()) as gateway:
        by_name = {s.name: s for s in gateway.sources}

        def error(name: str) -> str:
            return by_name[name].stats.last_error or ""

        await eventually(lambda: all(by_name[n].up for n in ("listed", "tofu", "pinned")),
                         timeout_s=30, what="trusted servers connected")
        await eventually(lambda: all(error(n) for n in ("unlisted", "wrong-uri", "stranger")),
                         timeout_s=30, what="refusals")
        fp = fingerprint(load_certificate(first.cert_path))
        saved = rejected / f"{fp.replace(':', '')[:16].lower()}.der"
        assert error("unlisted") == (
            f"untrusted server: {endpoint} presents certificate SHA-256 {fp}, which is not in "
            f"the trust list {empty}: compare the fingerprint with the plant's administrator, "
            f"then move {saved} into {empty}")
        assert saved.read_bytes() == first.cert_path.read_bytes()
        assert error("wrong-uri").startswith(
            f"URI mismatch: the gateway's certificate {wrong_uri[0]} names urn:someone:else "
            f"but application_uri is '{GATEWAY_URI}'")
        assert error("stranger").endswith(
            f"add {stranger[0]} to the server's trusted certificates"), error("stranger")
        assert f"trust on first use: pinned the certificate of {endpoint}, SHA-256 {fp}" in \
            caplog.text

        # The operator checks the fingerprint and moves the certificate: it connects.
        empty.mkdir(parents=True, exist_ok=True)
        shutil.move(saved, empty / saved.name)
        await eventually(lambda: by_name["unlisted"].up, timeout_s=30, what="now trusted")

        # The server is swapped for one with another certificate on the same endpoint.
        await sim.stop_opcua()
        for path in (first.cert_path, first.key_path):
            path.unlink()
        await sim.start_opcua()
        swapped = fingerprint(load_certificate(first.cert_path))
        assert swapped != fp
        expected = {
            "listed": f"untrusted server: {endpoint} presents certificate SHA-256 {swapped}",
            "tofu": f"pin mismatch: {endpoint} presents certificate SHA-256 {swapped}",
            "pinned": f"pin mismatch: {endpoint} presents certificate SHA-256 {swapped}"}
        await eventually(lambda: all(error(n).startswith(e) for n, e in expected.items()),
                         timeout_s=30, what="the swapped server refused")
        assert error("tofu").endswith(f"delete {tofu / 'tofu-tofu.der'}")
        assert error("pinned").endswith(f"replace {pinned} with the new one")

        assert not any(by_name[n].up for n in ("listed", "tofu", "pinned"))
