"""POST /v1/control/previews: the ramp a request would plan now, with its path against the
limits of the asset it moves, sent nowhere. For the screen's "preview before sending".

Only who may request the change may preview it (the point's owner with the control scope):
the start value is the plant's own reading. A preview changes nothing, so it is not in the
audit log; the request that may follow is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from heatlink.cluster.index import ClusterIndex
from services.access.deps import require_scope
from services.access.principal import Principal, Scope
from services.control.plan import PlanError, StartError
from services.control.router import Control, _may_change, _visible_point
from services.control.runtime import ControlRuntime
from services.control.schemas import RampRequest
from services.dashboard.own import limits_of
from services.monitor.group import AnyRule

router = APIRouter(prefix="/v1/control", tags=["control"])
Reader = Annotated[Principal, Depends(require_scope(Scope.READ))]
PATH_POINTS = 60


class PathPoint(BaseModel):
    ts: datetime
    value: float


class PreviewOut(BaseModel):
    point: str = Field(examples=["glomfjord/smoltfarm/tank1/temp_setpoint"])
    start_value: float = Field(examples=[12.0])
    start_source: str = Field(description="Where the start value comes from")
    target: float = Field(examples=[12.5])
    rate_per_h: float = Field(description="The planned cruise rate", examples=[1.2])
    max_rise_per_h: float | None
    max_fall_per_h: float | None
    duration_s: float
    steps: int
    ends_at: datetime
    path: list[PathPoint] = Field(description="The planned setpoint from now to the end")
    low: float | None = Field(description="The moved asset's band limits now", examples=[10])
    high: float | None = Field(examples=[16])
    within_limits: bool = Field(description="The whole path stays inside the band")


def _rules(control: ControlRuntime) -> list[AnyRule]:
    """The monitor's rules as they run now (control was built with the monitor)."""
    return [r.spec for r in control.rules.rules()]


@router.post("/previews", response_model=PreviewOut,
             summary="Preview a ramped setpoint change: its plan and path, sent nowhere",
             responses={403: {"description": "Not the point's owner, or no control scope"},
                        404: {"description": "No such writable point visible to the caller"},
                        409: {"description": "The plant reports no value to start from"},
                        422: {"description": "A target the point's range or limits do "
                                             "not allow"}})
async def preview(body: RampRequest, control: Control, p: Reader) -> PreviewOut:
    point = _visible_point(control, p, body.point)
    why = _may_change(p, point)
    if why is not None:
        raise HTTPException(403, why)
    try:
        plan, source = await control.preview(point, body.target)
    except StartError as exc:
        raise HTTPException(409, str(exc)) from None
    except PlanError as exc:
        raise HTTPException(422, str(exc)) from None
    now = control.clock.now()
    sign = 1.0 if plan.target >= plan.start_value else -1.0
    path = [PathPoint(ts=now + timedelta(seconds=t),
                      value=round(plan.start_value + sign * plan.distance_at(t), 4))
            for t in (plan.duration_s * i / PATH_POINTS for i in range(PATH_POINTS + 1))]
    index: ClusterIndex = control.index
    limits = limits_of(index, point.asset, _rules(control))
    low, high = (limits.low, limits.high) if limits else (None, None)
    within = all((low is None or x.value >= low) and (high is None or x.value <= high)
                 for x in path)
    rise, fall = control.limits(point)
    return PreviewOut(point=point.key, start_value=plan.start_value, start_source=source,
                      target=plan.target, rate_per_h=plan.rate_per_s * 3600,
                      max_rise_per_h=rise, max_fall_per_h=fall, duration_s=plan.duration_s,
                      steps=plan.steps, ends_at=now + timedelta(seconds=plan.duration_s),
                      path=path, low=low, high=high, within_limits=within)
