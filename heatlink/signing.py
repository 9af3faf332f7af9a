"""Ed25519 signatures on the control channel, so a command or a result is trusted for who
signed it, never for the broker it came through.

Asymmetric on purpose: the gateway holds only the service's public key (a stolen gateway
cannot sign commands for any plant) and its own private key (it can vouch only for its own
results); the service holds only the gateways' public keys. With HMAC, every key would be
a shared secret and the service's copy of all of them one prize.

A signed message is JSON ``{"kid": key id, "body": the message as JSON text, "sig":
base64}``: the signature covers the exact bytes of ``body`` (no canonical form to get
wrong), prefixed by a context string so a result can never pass for a command. The key id
is the first 16 hex digits of the SHA-256 of the raw public key; it picks the key, it does
not vouch for anything. Needs ``cryptography``, which the gateway and service extras install.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

PUBLIC_PREFIX = "ed25519:"
COMMAND_CONTEXT = b"heatlink control command v1"
RESULT_CONTEXT = b"heatlink control result v1"

# unreadable: not JSON at all; unsigned: JSON without the signed envelope; unknown_key: signed
# by a key not trusted here; bad_signature: the signature does not match the body.
Reason = Literal["unreadable", "unsigned", "unknown_key", "bad_signature"]


class SignatureError(ValueError):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


class KeyFileError(ValueError):
    """A key file or public key text cannot be used; the message says which and why."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_text(public: Ed25519PublicKey) -> str:
    """The one-line form a config file carries: ``ed25519:<base64 of the raw 32 bytes>``."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.b64encode(raw).decode()


def parse_public(text: str) -> Ed25519PublicKey:
    if not text.startswith(PUBLIC_PREFIX):
        raise KeyFileError(f"a public key reads '{PUBLIC_PREFIX}<base64>', not {text[:20]!r}")
    try:
        raw = base64.b64decode(text[len(PUBLIC_PREFIX):], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"not an Ed25519 public key: {text[:20]!r}…: {exc}") from None


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot read the signing key: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path}: not an unencrypted PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{path}: not an Ed25519 key (heatlink control keygen "
                               "makes one)")
        return cls(key)

    def save(self, path: Path) -> None:
        """Write the private key readable by its owner only; never over an existing file
        (a key overwritten by mistake cuts a plant off until every peer is told)."""
        data = self.private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def public_text(self) -> str:
        return public_text(self.public)

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, context: bytes, body: bytes) -> bytes:
        signature = self.private.sign(context + b"\x00" + body)
        return json.dumps({"kid": self.key_id, "body": body.decode(),
                           "sig": base64.b64encode(signature).decode()}).encode()


class TrustedKeys:
    """Public keys this end accepts, each with the name of whom it vouches for (the service,
    or a gateway id). During a rotation a peer has two."""

    def __init__(self, owners: Mapping[str, Iterable[str]]) -> None:
        self._keys: dict[str, tuple[str, Ed25519PublicKey]] = {}
        for owner, texts in owners.items():
            for text in texts:
                public = parse_public(text)
                kid = key_id(public)
                if kid in self._keys and self._keys[kid][0] != owner:
                    raise KeyFileError(f"one public key is given for both "
                                       f"{self._keys[kid][0]!r} and {owner!r}")
                self._keys[kid] = (owner, public)

    def __len__(self) -> int:
        return len(self._keys)

    def owners(self) -> set[str]:
        return {owner for owner, _ in self._keys.values()}

    def open(self, context: bytes, payload: bytes) -> tuple[str, bytes]:
        """(owner, body) of a signed message, or `SignatureError` saying why not."""
        try:
            envelope = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise SignatureError("unreadable", "not JSON") from None
        if not isinstance(envelope, dict) or not {"kid", "body", "sig"} <= envelope.keys():
            raise SignatureError("unsigned", "no signed envelope (kid, body, sig)")
        kid, body, sig = envelope["kid"], envelope["body"], envelope["sig"]
        if not (isinstance(kid, str) and isinstance(body, str) and isinstance(sig, str)):
            raise SignatureError("unsigned", "kid, body and sig must be strings")
        found = self._keys.get(kid)
        if found is None:
            raise SignatureError("unknown_key", f"key {kid[:16]!r} is not trusted here")
        owner, public = found
        body_bytes = body.encode()
        try:
            public.verify(base64.b64decode(sig, validate=True),
                          context + b"\x00" + body_bytes)
        except (InvalidSignature, binascii.Error, ValueError):
            raise SignatureError("bad_signature", f"signature does not match (key {kid})"
                                 ) from None
        return owner, body_bytes
