"""Self-signed application certificates for OPC UA, generated once and cached in a folder.

Generated with ``cryptography`` (through asyncua's helper, which follows OPC 10000-6
6.2.2). A server trusts exactly the client certificates copied into its ``trusted/``
folder; anything else is refused with BadCertificateUntrusted.
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from asyncua.crypto import cert_gen
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

SERVER_APPLICATION_URI = "urn:heatlink:simulator"


@dataclass(frozen=True, slots=True)
class CertPair:
    cert_path: Path  # DER
    key_path: Path  # PEM, PKCS#8, unencrypted
    application_uri: str


def ensure_certificate(folder: Path, name: str, application_uri: str, *,
                       server: bool, days: int = 365) -> CertPair:
    """The cached pair ``folder/<name>.der`` and ``.pem``; made anew when missing or expiring."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}.der", folder / f"{name}.pem"
    if cert_path.is_file() and key_path.is_file():
        cert = x509.load_der_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=1):
            return CertPair(cert_path, key_path, application_uri)
    key = cert_gen.generate_private_key()
    hostname = socket.gethostname()
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(application_uri),
        x509.DNSName("localhost"),
        x509.DNSName(hostname),
        x509.IPAddress(ip_address("127.0.0.1")),
    ]
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = cert_gen.generate_self_signed_app_certificate(
        key, name, {"organizationName": "heatlink simulator"}, names, [usage], days=days)
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(encoding=Encoding.DER))
    return CertPair(cert_path, key_path, application_uri)


def trust(trusted_dir: Path, cert_path: Path) -> Path:
    """Add a client certificate to a server's trust list."""
    trusted_dir.mkdir(parents=True, exist_ok=True)
    target = trusted_dir / cert_path.name
    shutil.copyfile(cert_path, target)
    return target
