"""Security settings of an OPC UA connection, and what a refusal means in words.

The operator must learn from one log line whether the server refused the certificate, the
password, or the security policy: each needs a different person to fix it.
"""

from __future__ import annotations

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies, uacrypto
from asyncua.ua.uaerrors import UaError, UaStatusCodeError
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.config import OpcUaSourceConfig
from gateway.opcua_trust import TrustRefused, check_own_certificate, check_server

CERTIFICATE_CODES = {
    "BadSecurityChecksFailed", "BadCertificateUntrusted", "BadCertificateInvalid",
    "BadCertificateRevoked", "BadCertificateTimeInvalid", "BadCertificateUriInvalid",
    "BadCertificateHostNameInvalid", "BadCertificateUseNotAllowed",
    "BadCertificateIssuerRevocationUnknown", "BadCertificateRevocationUnknown",
    "BadNoValidCertificates", "BadSecurityPolicyRejected", "BadSecureChannelClosed",
}
IDENTITY_CODES = {"BadUserAccessDenied", "BadIdentityTokenInvalid", "BadIdentityTokenRejected",
                  "BadUserSignatureInvalid"}


async def apply_security(client: Client, config: OpcUaSourceConfig) -> None:
    """Set up ``client`` for ``config``; with a secure policy, only towards a server whose
    certificate the trust settings accept (`gateway.opcua_trust`), checked before any
    secure channel is opened and so before a password is sent."""
    sec = config.security
    client.application_uri = sec.application_uri
    if sec.policy != "None":
        if sec.certificate is None or sec.private_key is None:
            raise ValueError("a secure policy needs certificate and private_key")
        check_own_certificate(sec)
        policy = getattr(security_policies, f"SecurityPolicy{sec.policy}")
        mode = getattr(ua.MessageSecurityMode, sec.mode)
        # The endpoint list comes over an unsecured channel; what it offers is judged here,
        # and asyncua then refuses a session whose certificate differs from it.
        endpoints = await client.connect_and_get_server_endpoints()
        endpoint = Client.find_endpoint(endpoints, mode, policy.URI)
        server_cert: x509.Certificate = uacrypto.x509_from_der(  # type: ignore[no-untyped-call]
            endpoint.ServerCertificate)
        check_server(server_cert, endpoint.Server.ApplicationUri, sec, config.endpoint,
                           config.name)
        await client.set_security(policy, str(sec.certificate), str(sec.private_key),
                                  server_certificate=server_cert.public_bytes(Encoding.DER),
                                  mode=mode)
    if config.username:
        client.set_user(config.username)
        password = config.resolved_password()
        if password is not None:
            client.set_password(password)


def describe_connect_error(exc: BaseException, config: OpcUaSourceConfig) -> str:
    """One sentence saying what failed and who can fix it."""
    if isinstance(exc, TrustRefused):
        return str(exc)
    name = type(exc).__name__
    if isinstance(exc, UaStatusCodeError):
        name = ua.StatusCode(exc.code).name
    endpoint = config.endpoint
    sec = config.security
    if name in IDENTITY_CODES:
        return (f"{endpoint} refused the username/password of user {config.username!r} "
                f"({name}): check the credentials")
    if name == "BadCertificateUriInvalid":
        return (f"{endpoint} refused the gateway's certificate {sec.certificate}: its URI "
                f"does not match application_uri {sec.application_uri!r} ({name}): make a "
                f"new one with `heatlink gateway cert --application-uri {sec.application_uri}`")
    if sec.policy != "None" and (name in CERTIFICATE_CODES or _closed_on_us(exc)):
        return (f"{endpoint} refused the gateway's certificate ({name}): add "
                f"{sec.certificate} to the server's trusted certificates")
    if isinstance(exc, FileNotFoundError):
        return f"cannot read a certificate or key file: {exc.filename}"
    if isinstance(exc, UaError) and "endpoint" in str(exc).lower():
        return (f"{endpoint} offers no endpoint with policy {config.security.policy} and mode "
                f"{config.security.mode}: {exc}")
    if isinstance(exc, OSError | TimeoutError):
        return f"{endpoint} unreachable: {exc or name}"
    return f"{endpoint}: {name}: {exc}"


def _closed_on_us(exc: BaseException) -> bool:
    """asyncua reports a server that drops a secure channel it will not open (an untrusted
    client certificate) as a bare AssertionError or a closed connection."""
    return isinstance(exc, AssertionError) or type(exc) is ConnectionError or (
        isinstance(exc, UaError) and "closed" in str(exc).lower())
