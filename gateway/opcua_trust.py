"""Which OPC UA server the gateway trusts, decided before it opens a secure channel.

By default a server is trusted only when its certificate lies in the trust list, a folder
as in OPC UA's PKI layout (``pki/trusted/certs``), or was issued by one that does. A
``server_certificate`` pins exactly one certificate instead. Trust on first use exists
only when the configuration asks for it, and then the certificate it pins is saved into
the trust list and its fingerprint logged. A refused server certificate is saved into
the rejected folder, so the operator can compare its fingerprint with the plant's and
move it into the trust list.

Every refusal is a `TrustRefused` whose message names the cause and what to do, in one
line: the person who reads the log is rarely the person who configured the server.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification

from gateway.config import OpcUaSecurity

log = logging.getLogger(__name__)


class TrustRefused(Exception):
    """The gateway will not talk to this server (or cannot present its own certificate)."""


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, as UaExpert and most servers display it."""
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def load_certificate(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def uris(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def check_own_certificate(sec: OpcUaSecurity) -> None:
    """The gateway's certificate must name its application_uri, or servers refuse it."""
    if sec.certificate is None:
        return
    named = uris(load_certificate(sec.certificate))
    if sec.application_uri not in named:
        raise TrustRefused(
            f"URI mismatch: the gateway's certificate {sec.certificate} names "
            f"{', '.join(named) or 'no URI'} but application_uri is {sec.application_uri!r}: "
            f"set application_uri to the certificate's URI, or make a new certificate with "
            f"`heatlink gateway cert --application-uri {sec.application_uri}`")


def check_server(cert: x509.Certificate, server_uri: str | None, sec: OpcUaSecurity,
                       endpoint: str, source: str) -> None:
    """Return when ``cert`` (offered by ``endpoint``) is trusted; raise `TrustRefused`."""
    fp = fingerprint(cert)
    named = uris(cert)
    if server_uri and server_uri not in named:
        _reject(cert, sec)
        raise TrustRefused(
            f"URI mismatch: {endpoint} calls itself {server_uri!r} but its certificate "
            f"(SHA-256 {fp}) names {', '.join(named) or 'no URI'}: the plant must give the "
            "server a certificate for its application URI")
    if sec.server_certificate is not None:
        pinned = load_certificate(sec.server_certificate)
        if fingerprint(pinned) == fp:
            return
        saved = _reject(cert, sec)
        raise TrustRefused(
            f"pin mismatch: {endpoint} presents certificate SHA-256 {fp} (saved as {saved}) "
            f"but server_certificate {sec.server_certificate} is SHA-256 "
            f"{fingerprint(pinned)}: if the plant renewed its certificate on purpose, "
            f"replace {sec.server_certificate} with the new one")
    if _in_trust_list(cert, sec.trusted_certificates):
        return
    pin = sec.trusted_certificates / f"tofu-{_safe(source)}.der"
    if sec.trust_on_first_use and pin.exists():
        saved = _reject(cert, sec)
        raise TrustRefused(
            f"pin mismatch: {endpoint} presents certificate SHA-256 {fp} (saved as {saved}) "
            f"but trust on first use pinned SHA-256 {fingerprint(load_certificate(pin))} "
            f"in {pin}: if the plant renewed its certificate on purpose, delete {pin}")
    if sec.trust_on_first_use:
        pin.parent.mkdir(parents=True, exist_ok=True)
        pin.write_bytes(cert.public_bytes(Encoding.DER))
        log.warning("trust on first use: pinned the certificate of %s, SHA-256 %s, in %s; "
                    "compare the fingerprint with the plant's", endpoint, fp, pin)
        return
    saved = _reject(cert, sec)
    raise TrustRefused(
        f"untrusted server: {endpoint} presents certificate SHA-256 {fp}, which is not in "
        f"the trust list {sec.trusted_certificates}: compare the fingerprint with the plant's "
        f"administrator, then move {saved} into {sec.trusted_certificates}")


def _in_trust_list(cert: x509.Certificate, folder: Path) -> bool:
    if not folder.is_dir():
        return False
    der = cert.public_bytes(Encoding.DER)
    trusted = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".der", ".pem", ".crt"):
            continue
        try:
            trusted.append(load_certificate(path))
        except ValueError:
            log.warning("trust list: %s is not a certificate; ignored", path)
    if any(t.public_bytes(Encoding.DER) == der for t in trusted):
        return True
    return bool(trusted) and _issued_by_trusted(cert, trusted)


def _issued_by_trusted(cert: x509.Certificate, trusted: list[x509.Certificate]) -> bool:
    """A certificate issued by a trusted CA (the plant's own PKI) is trusted too."""
    ca_policy = verification.ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, verification.Criticality.AGNOSTIC, _must_be_ca)
    verifier = verification.PolicyBuilder().store(verification.Store(trusted)) \
        .extension_policies(ca_policy=ca_policy,
                            ee_policy=verification.ExtensionPolicy.permit_all()) \
        .build_client_verifier()
    try:
        verifier.verify(cert, [])
    except verification.VerificationError:
        return False
    return True


def _must_be_ca(_policy: verification.Policy, _cert: x509.Certificate,
                ext: x509.BasicConstraints | None) -> None:
    if ext is None or not ext.ca:
        raise ValueError("an issuer must be a CA")


def _reject(cert: x509.Certificate, sec: OpcUaSecurity) -> Path:
    folder = sec.rejected_certificates
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{fingerprint(cert).replace(':', '')[:16].lower()}.der"
    path.write_bytes(cert.public_bytes(Encoding.DER))
    return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
