"""The caller of a request, as established from its token."""

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


DEFAULT_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.OPERATOR: frozenset({Scope.READ, Scope.CONTROL, Scope.SAFETY}),
    Role.RECIPIENT: frozenset({Scope.READ}),
    Role.INTEGRATOR: frozenset({Scope.READ}),
    Role.FACILITATOR: frozenset({Scope.READ}),
    Role.ADMIN: frozenset({Scope.READ, Scope.CONTROL, Scope.SAFETY, Scope.ADMIN}),
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

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes
