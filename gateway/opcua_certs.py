"""The gateway's OPC UA application certificate: made once, given to each plant's server.

Self-signed, RSA 2048 with SHA-256 (what Basic256Sha256 and the Aes policies accept), with
the application URI in its SubjectAltName (a server refuses a certificate whose URI differs
from the client's application URI) and the host's name. Generated with ``cryptography``
through asyncua's helper, which follows OPC 10000-6 6.2.2.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from asyncua.crypto import cert_gen
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.opcua_trust import fingerprint


@dataclass(frozen=True)
class MadeCertificate:
    certificate: Path
    private_key: Path
    application_uri: str
    fingerprint: str


def make_application_certificate(certificate: Path, private_key: Path, application_uri: str,
                                 *, hostname: str | None = None,
                                 days: int = 730) -> MadeCertificate:
    """Write a new certificate (DER) and its key (PEM, mode 0600), replacing any there."""
    host = hostname or socket.gethostname()
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri),
                                      x509.DNSName(host)]
    cert = cert_gen.generate_self_signed_app_certificate(
        key, f"heatlink gateway@{host}", {"organizationName": "heatlink gateway"}, names,
        [ExtendedKeyUsageOID.CLIENT_AUTH], days=days)
    certificate.parent.mkdir(parents=True, exist_ok=True)
    private_key.parent.mkdir(parents=True, exist_ok=True)
    private_key.parent.chmod(0o700)
    # Created with mode 0600 from the start: the key is never readable by others.
    fd = os.open(private_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(cert_gen.dump_private_key_as_pem(key))
    certificate.write_bytes(cert.public_bytes(Encoding.DER))
    return MadeCertificate(certificate, private_key, application_uri, fingerprint(cert))
