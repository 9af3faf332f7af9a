"""GET /v1/rules, GET /v1/rules/{id}/versions, PATCH /v1/rules/{id}, GET /v1/findings,
GET /v1/energy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from heatlink.inputs import Moment, Name
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.deps import Part
from services.monitor.runtime import MonitorRuntime, NotOwner, RuleChangeError
from services.monitor.schemas import EnergyOut, FindingOut, RuleChange, RuleOut, RuleVersionOut
from services.monitor.store import FindingFilter

router = APIRouter(prefix="/v1", tags=["monitor"])
Caller = Annotated[Principal, Depends(require_scope(Scope.READ))]
# Changing a limit is privileged (ISA-18.2): the safety scope, and ownership per rule.
Changer = Annotated[Principal, Depends(require_scope(Scope.SAFETY))]


# The app binds it at start (`services/runtimes.py`); unbound, a route answers 503.
get_monitor = Part[MonitorRuntime]("monitor")


Monitor = Annotated[MonitorRuntime, Depends(get_monitor)]
NO_RULE: dict[int | str, dict[str, Any]] = {404: {"description": "No such rule"}}
RuleId = Annotated[str, Path(description="A rule's id (GET /v1/rules lists them)",
                             examples=["tank1-band"])]


def _rule_or_404(monitor: MonitorRuntime, rule_id: str, caller: Principal) -> RuleOut:
    try:
        rule = monitor.rule(rule_id)
    except KeyError:
        rule = None
    if rule is None or not monitor.may_see_rule(rule, caller.org):
        # The same answer for "does not exist" and "not yours": no hint that it exists.
        raise HTTPException(404, f"no rule {rule_id!r} visible to {caller.org}; "
                            "GET /v1/rules lists them") from None
    return RuleOut.of(rule)


@router.get("/rules", response_model=list[RuleOut],
            summary="Rules the caller may see and their running version",
            description="A company sees the rules it owns and those on series it may read "
                        "(its own assets' and what its exchanges share with it).")
async def list_rules(monitor: Monitor, caller: Caller,
                     owner: Annotated[str | None, Query()] = None,
                     series: Annotated[str | None, Query()] = None) -> list[RuleOut]:
    return [RuleOut.of(r) for r in monitor.rules()
            if monitor.may_see_rule(r, caller.org)
            and (owner is None or r.spec.owner == owner)
            and (series is None or r.spec.series == series)]


@router.get("/rules/{rule_id}", response_model=RuleOut, responses=NO_RULE)
async def get_rule(rule_id: RuleId, monitor: Monitor, caller: Caller) -> RuleOut:
    return _rule_or_404(monitor, rule_id, caller)


@router.get("/rules/{rule_id}/versions", response_model=list[RuleVersionOut],
            summary="Every version of a rule: who changed it, when, why, old and new",
            responses=NO_RULE)
async def rule_versions(rule_id: RuleId, monitor: Monitor, caller: Caller) -> list[RuleVersionOut]:
    _rule_or_404(monitor, rule_id, caller)
    return [RuleVersionOut.of(v) for v in await monitor.store.rule_versions(rule_id)]


@router.patch("/rules/{rule_id}", response_model=RuleOut,
              summary="Change a rule (its owner, with the safety scope); makes a new version",
              description="The new values must be finite, a band's low below its high and "
                          "inside the series' physical range, and no looser than the hard "
                          "limits of the cluster file (`hard_limits`). The reason is required "
                          "and kept with the version, with the token that made the change.",
              responses={403: {"description": "The caller's organisation does not own it, "
                                              "or the token lacks the safety scope"},
                         404: {"description": "No such rule visible to the caller"},
                         422: {"description": "A fixed field, or a value out of bounds"}})
async def change_rule(rule_id: RuleId, body: RuleChange, monitor: Monitor,
                      caller: Changer) -> RuleOut:
    _rule_or_404(monitor, rule_id, caller)
    actor = caller.actor
    try:
        changed = await monitor.change_rule(rule_id, body.changes, caller.org, body.reason,
                                            actor)
    except NotOwner as exc:
        raise HTTPException(403, str(exc)) from None
    except RuleChangeError as exc:
        raise HTTPException(422, str(exc)) from None
    return RuleOut.of(changed)


@router.get("/findings", response_model=list[FindingOut],
            summary="Findings (changes of state), newest first, that the caller may see")
async def list_findings(
        monitor: Monitor, caller: Caller,
        rule_id: Annotated[Name | None, Query()] = None,
        series: Annotated[Name | None, Query()] = None,
        state: Annotated[Name | None, Query()] = None,
        kind: Annotated[Name | None, Query()] = None,
        since: Annotated[Moment | None, Query(description="Plant time, inclusive")] = None,
        until: Annotated[Moment | None, Query(description="Plant time, exclusive")] = None,
        late: Annotated[bool | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[FindingOut]:
    flt = FindingFilter(rule_id=rule_id, series=series, state=state, kind=kind, since=since,
                        until=until, late=late, limit=limit)
    visible = sorted(monitor.visible_series(caller.org))
    rows = await monitor.store.list_findings(flt, visible_to=(caller.org, visible))
    return [FindingOut.of(i, f) for i, f in rows]


@router.get("/energy", response_model=EnergyOut,
            summary="Heat energy delivered through a derived heat-power series",
            description="The same figure for supplier and recipient: computed from the "
                        "heat power the monitor derives and stores.",
            responses={404: {"description": "No such derived heat-power series visible to "
                                            "the caller"}})
async def energy(monitor: Monitor, caller: Caller,
                 series: Annotated[Name, Query(
                     description="A derived heat-power series",
                     examples=["glomfjord/smelter/hx1/secondary/power"])],
                 since: Annotated[Moment, Query(description="Plant time, inclusive",
                                                examples=["2026-01-15T00:00:00Z"])],
                 until: Annotated[Moment, Query(description="Plant time, exclusive",
                                                examples=["2026-01-16T00:00:00Z"])]
                 ) -> EnergyOut:
    if series not in monitor.derived_power_keys() or \
            series not in monitor.visible_series(caller.org):
        raise HTTPException(404, f"no derived heat-power series {series!r} visible to "
                            f"{caller.org}")
    kwh, n = await monitor.store.energy_kwh(series, since, until,
                                            monitor.engine.config.energy_max_gap_s)
    return EnergyOut(series=series, since=since, until=until, energy_kwh=kwh, readings=n)
