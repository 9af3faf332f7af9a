"""Response shapes of the readings API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Aggregate(StrEnum):
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    LAST = "last"


class SeriesOut(BaseModel):
    key: str = Field(examples=["glomfjord/smelter/hx1/secondary/supply_temp"])
    asset: str
    quantity: str
    unit: str
    owner: str
    range_min: float | None
    range_max: float | None
    derived: bool


class Point(BaseModel):
    ts: datetime
    value: float
    quality: str | None = Field(None, description="Raw readings only")


class ReadingsOut(BaseModel):
    series: str
    unit: str
    start: datetime
    end: datetime
    step_s: float | None = Field(None, description="Bucket width; absent for raw readings")
    agg: Aggregate | None = None
    points: list[Point]


class LatestOut(BaseModel):
    series: str
    unit: str
    ts: datetime | None
    value: float | None
    quality: str | None
    age_s: float | None = Field(description="Seconds since the reading's source timestamp")
