"""Shapes of the dashboard snapshot: the cluster as the caller may see it, with states."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.dashboard.state import State

Role = Literal["source", "exchanger", "recipient"]


class NodeOut(BaseModel):
    id: str = Field(examples=["glomfjord/smelter/hx1"])
    name: str = Field(examples=["Plate exchanger HX-1"])
    kind: str = Field(examples=["heat_exchanger"])
    owner: str = Field(examples=["glomfjord-smelter"])
    site: str = Field(examples=["glomfjord"])
    role: Role = Field(description="Column of the cluster graph")
    depth: int = Field(description="Steps from the first heat source along `feeds`")
    state: State
    reason: str = Field(examples=["supply 18.4 within 14–22"])
    reason_key: str | None = Field(None, description="The reason as a message key of the "
                                   "dashboard's catalogues", examples=["reason.within"])
    reason_values: dict[str, str | float] = Field(default_factory=dict,
                                                  examples=[{"v": 18.4, "low": 14,
                                                             "high": 22}])
    series: list[str] = Field(description="This asset's series the caller may read")


class EdgeOut(BaseModel):
    source: str = Field(examples=["glomfjord/smelter/hx1"])
    target: str = Field(examples=["glomfjord/pipeline/p1"])


class SideOut(BaseModel):
    """Series keys of one side of an exchanger; null where none exists or is shared."""

    supply_temp: str | None = None
    return_temp: str | None = None
    flow: str | None = None
    power: str | None = None


class BandOut(BaseModel):
    series: str
    low: float
    high: float


class ExchangeOut(BaseModel):
    id: str = Field(examples=["glomfjord-smolt"])
    name: str = Field(examples=["Smelter cooling water to Fjordsmolt"])
    supplier: str
    recipient: str
    exchanger: str
    recipient_assets: list[str]
    contracted_power_kw: float | None = Field(examples=[8000])
    supply_band: BandOut | None
    notice_period_h: float
    state: State
    reason: str
    reason_key: str | None = None
    reason_values: dict[str, str | float] = Field(default_factory=dict)
    power_kw: float | None = Field(description="Delivered heat power now: the power series' "
                                   "latest value, else computed from flow and temperatures")
    primary: SideOut
    secondary: SideOut


class SeriesMetaOut(BaseModel):
    key: str
    asset: str
    quantity: str
    unit: str
    owner: str


class LatestValueOut(BaseModel):
    ts: datetime
    value: float
    quality: str
    age_s: float


class SnapshotOut(BaseModel):
    cluster: str = Field(examples=["Nordland example cluster"])
    timezone: str = Field(examples=["Europe/Oslo"])
    org: str = Field(examples=["fjordsmolt"])
    generated_at: datetime
    refresh_s: float = Field(description="How often the page asks for states again")
    nodes: list[NodeOut]
    edges: list[EdgeOut]
    exchanges: list[ExchangeOut]
    series: list[SeriesMetaOut]
    latest: dict[str, LatestValueOut] = Field(
        description="Latest value per visible series that has one",
        examples=[{"glomfjord/smelter/hx1/secondary/supply_temp": {
            "ts": "2026-01-15T06:00:00Z", "value": 18.4, "quality": "good", "age_s": 4.2}}])
