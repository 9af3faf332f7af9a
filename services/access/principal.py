"""The caller of a request, as established from its token or its login session."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    RECIPIENT = "recipient"
    INTEGRATOR = "integrator"
    FACILITATOR = "facilitator"
    ADMIN = "admin"
    GATEWAY = "gateway"


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    CONTROL = "control"
    # Changing what raises an alarm or who hears it (rules, shelving, out of service,
    # maintenance windows): privileged under ISA-18.2, so never implied by reading.
    SAFETY = "safety"
    ADMIN = "admin"
    SETTLE = "settle"  # commercial acts on an exchange's accounting: close, comment, rules


# Roles a person may have; gateway is a machine's, held by tokens only.
PERSON_ROLES = (Role.OPERATOR, Role.RECIPIENT, Role.INTEGRATOR, Role.FACILITATOR, Role.ADMIN)

DEFAULT_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.OPERATOR: frozenset({Scope.READ, Scope.CONTROL, Scope.SAFETY}),
    Role.RECIPIENT: frozenset({Scope.READ}),
    Role.INTEGRATOR: frozenset({Scope.READ}),
    Role.FACILITATOR: frozenset({Scope.READ}),
    Role.ADMIN: frozenset({Scope.READ, Scope.CONTROL, Scope.SAFETY, Scope.ADMIN, Scope.SETTLE}),
    Role.GATEWAY: frozenset({Scope.INGEST}),
}


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    org: str
    role: Role
    scopes: frozenset[Scope]
    gateway: str | None = None
    user_id: int | None = None  # set when a person logged in (a session), not a token

    @property
    def actor(self) -> str:
        """Who did it, for audit records: the organisation, the name and the credential."""
        how = f"user #{self.user_id}" if self.user_id is not None else f"#{self.token_id}"
        return f"{self.org}:{self.name} ({how})"

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes
