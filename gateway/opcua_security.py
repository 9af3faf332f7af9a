"""Security settings of an OPC UA connection, and what a refusal means in words.

The operator must learn from one log line whether the server refused the certificate, the
password, or the security policy: each needs a different person to fix it.
"""

from __future__ import annotations

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from gateway.config import OpcUaSourceConfig

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
    sec = config.security
    client.application_uri = sec.application_uri
    if sec.policy != "None":
        if sec.certificate is None or sec.private_key is None:
            raise ValueError("a secure policy needs certificate and private_key")
        policy = getattr(security_policies, f"SecurityPolicy{sec.policy}")
        await client.set_security(
            policy, str(sec.certificate), str(sec.private_key),
            server_certificate=str(sec.server_certificate) if sec.server_certificate else None,
            mode=getattr(ua.MessageSecurityMode, sec.mode))
    if config.username:
        client.set_user(config.username)
        password = config.resolved_password()
        if password is not None:
            client.set_password(password)


def describe_connect_error(exc: BaseException, config: OpcUaSourceConfig) -> str:
    """One sentence saying what failed and who can fix it."""
    name = type(exc).__name__
    if isinstance(exc, UaStatusCodeError):
        name = ua.StatusCode(exc.code).name
    endpoint = config.endpoint
    if name in IDENTITY_CODES:
        return (f"{endpoint} refused the username/password of user {config.username!r} "
                f"({name}): check the credentials")
    if name in CERTIFICATE_CODES and config.security.policy != "None":
        return (f"{endpoint} refused the gateway's certificate {config.security.certificate} "
                f"({name}): the server must trust it")
    if isinstance(exc, FileNotFoundError):
        return f"cannot read a certificate or key file: {exc.filename}"
    if isinstance(exc, UaError) and "endpoint" in str(exc).lower():
        return (f"{endpoint} offers no endpoint with policy {config.security.policy} and mode "
                f"{config.security.mode}: {exc}")
    if isinstance(exc, OSError | TimeoutError):
        return f"{endpoint} unreachable: {exc or name}"
    return f"{endpoint}: {name}: {exc}"
