"""Which of the example cluster's callers a test sends to each operation: the one that may
do it, so that requests get past authorisation to the code behind it."""

from __future__ import annotations

from services.access.principal import Role, Scope

# role name -> (organisation, role, scopes, gateway)
CALLERS: dict[str, tuple[str, Role, list[Scope] | None, str | None]] = {
    "gateway": ("glomfjord-smelter", Role.GATEWAY, None, "glomfjord-gw1"),
    "farm_operator": ("fjordsmolt", Role.OPERATOR, None, None),  # owns the tank's points
    "supplier": ("glomfjord-smelter", Role.OPERATOR, None, None),  # answers the farm
    "facilitator": ("cluster-facilitator", Role.FACILITATOR, None, None),  # reads all
}


def caller_for(method: str, path: str) -> str:
    if path in ("/v1/ingest", "/v1/ingest/runs"):
        return "gateway"
    if path.endswith(("/accept", "/decline")) or (path == "/v1/maintenance"
                                                  and method.upper() == "POST"):
        return "supplier"
    if path.startswith(("/v1/control", "/v1/alerts", "/v1/alert-deliveries", "/v1/rules")):
        return "farm_operator"
    return "facilitator"
