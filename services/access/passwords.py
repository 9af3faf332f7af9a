"""Password hashing with argon2id (argon2-cffi, the OWASP first choice).

Hashing costs tens of milliseconds of CPU on purpose: callers on the event loop run it in a
thread. An unknown user is checked against a dummy hash, so the answer takes as long as for
a known one and its timing does not tell which usernames exist.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps a huge body from costing more


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # RFC 9106's low-memory profile: argon2id, t=3, 64 MiB


@lru_cache(maxsize=1)
def _dummy() -> str:
    return _hasher().hash("not a password of anyone")


def weakness(password: str) -> str | None:
    """Why ``password`` may not be used, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(encoded: str | None, password: str) -> bool:
    """Whether ``password`` matches ``encoded``; None (no such user) costs the same."""
    try:
        return _hasher().verify(encoded or _dummy(), password) and encoded is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    return _hasher().check_needs_rehash(encoded)
