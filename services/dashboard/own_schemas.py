"""Shapes of the viewer's own view: its assets first, then what its recipients need."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.dashboard.state import State


class RateLimitOut(BaseModel):
    rule_id: str = Field(examples=["tank1-ramp-alarm"])
    severity: Literal["warning", "alarm"]
    max_rise_per_h: float | None = Field(examples=[2.0])
    max_fall_per_h: float | None = Field(examples=[2.0])


class DependencyOut(BaseModel):
    """One upstream supply the asset depends on, and what its loss would do now."""

    exchange: str = Field(examples=["glomfjord-smolt"])
    upstream: str = Field(description="The exchanger that hands the heat over",
                          examples=["glomfjord/smelter/hx1"])
    upstream_name: str = Field(examples=["Plate exchanger HX-1"])
    supplier: str = Field(examples=["glomfjord-smelter"])
    state: State = Field(description="The exchange's state as the viewer sees it")
    limit_c: float | None = Field(description="The limit a loss drives toward",
                                  examples=[10.0])
    side: Literal["low", "high"] | None = Field(examples=["low"])
    time_to_limit_s: float | None = Field(
        description="If this supply stopped now: pipe delay plus the thermal model's time to "
        "the limit; 0 when already past it, null when it would never get there or the "
        "model or the value is missing", examples=[840.0])
    lost_since: datetime | None = Field(description="Set while an active alert says this "
                                        "supply is lost")


class PointOut(BaseModel):
    ts: datetime
    value: float


class OwnAssetOut(BaseModel):
    asset: str = Field(examples=["glomfjord/smoltfarm/tank1"])
    name: str = Field(examples=["Grow-out tank T-1 (190 m3)"])
    state: State
    reason: str
    series: str | None = Field(description="The temperature its limits are on",
                               examples=["glomfjord/smoltfarm/tank1/temp"])
    value: float | None = Field(examples=[12.1])
    ts: datetime | None
    quality: str | None = Field(examples=["good"])
    rate_k_per_h: float | None = Field(description="Least-squares slope over the last "
                                       "`rate_window_s`", examples=[-0.2])
    rate_window_s: float = Field(examples=[600.0])
    low: float | None = Field(description="The band rule's low limit now", examples=[10.0])
    high: float | None = Field(examples=[16.0])
    rate_limits: list[RateLimitOut]
    dependencies: list[DependencyOut]
    predicted: list[PointOut] = Field(description="While a supply is lost: the thermal "
                                      "model's path from now (empty otherwise)")
    crossing_at: datetime | None = Field(description="When the predicted path crosses the "
                                         "limit")


class RecipientNeedOut(BaseModel):
    """What a supplier sees of a recipient's asset: its limits and the time margin its
    supply gives it, never the recipient's readings themselves."""

    exchange: str = Field(examples=["glomfjord-smolt"])
    recipient: str = Field(examples=["fjordsmolt"])
    recipient_name: str = Field(examples=["Fjordsmolt AS"])
    asset_name: str = Field(examples=["Grow-out tank T-1 (190 m3)"])
    state: State
    low: float | None = Field(examples=[10.0])
    high: float | None = Field(examples=[16.0])
    max_rate_per_h: float | None = Field(description="The recipient's tightest ramp alarm",
                                         examples=[2.0])
    time_to_limit_s: float | None = Field(description="If this supply stopped now",
                                          examples=[840.0])


class OwnViewOut(BaseModel):
    org: str
    generated_at: datetime
    assets: list[OwnAssetOut]
    recipients: list[RecipientNeedOut]
