"""The cluster file's schema. Unknown keys are errors, never silently ignored."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from heatlink.cluster.metering import MeteringPoint, Settlement
from heatlink.cluster.rule_spec import RuleSpec
from heatlink.units import UNITS, Quantity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrgKind(StrEnum):
    COMPANY = "company"
    FACILITATOR = "facilitator"


class AssetKind(StrEnum):
    HEAT_SOURCE = "heat_source"
    HEAT_EXCHANGER = "heat_exchanger"
    PIPE = "pipe"
    FISH_TANK = "fish_tank"
    RECIRCULATING_LOOP = "recirculating_loop"
    GREENHOUSE = "greenhouse"
    DISTRICT_HEATING = "district_heating"


RECIPIENT_KINDS = frozenset({AssetKind.FISH_TANK, AssetKind.RECIRCULATING_LOOP,
                             AssetKind.GREENHOUSE, AssetKind.DISTRICT_HEATING})


class Organisation(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    kind: OrgKind = OrgKind.COMPANY
    contact_email: str | None = None
    language: Literal["en", "nb"] = Field(
        "en", description="Language of the alert messages sent to the organisation: "
                          "English or Norwegian Bokmål")


class Site(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    owner: str | None = Field(None, description="Organisation running the site, if one does")


class ThermalModel(_Strict):
    """First-order lumped model of a recipient: T → T∞ with time constant V / V̇."""

    volume_m3: float = Field(gt=0)
    inflow_m3_per_h: float = Field(gt=0)
    cold_water_temp_c: float = Field(description="Temperature the tank falls toward "
                                     "without warm inflow (raw water)")
    warm_share_series: str | None = Field(None, description="Series giving the share of warm "
                                          "water in the inflow, in % (the mixing valve): with "
                                          "it the monitor predicts the tank's rate of change "
                                          "from the supply temperature (its heat balance)")


class Asset(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)+$",
                    description="Path-like id: site/area/unit")
    name: str
    kind: AssetKind
    owner: str
    feeds: list[str] = Field(default_factory=list,
                             description="Assets downstream in the direction of heat flow")
    volume_m3: float | None = Field(None, gt=0, description="Pipe or tank volume")
    ua_clean_w_per_k: float | None = Field(None, gt=0, description="Exchanger UA when clean")
    thermal_model: ThermalModel | None = None
    load_series: str | None = Field(
        None, description="For a heat source: the series giving its load in % of rated "
        "output (a furnace's power setpoint, a boiler's firing rate), a signal with no noise "
        "to speak of. A restart or a stop shows there at its first sample, minutes before "
        "its heat output's noise lets a ramp be told apart; the monitor takes the heat "
        "coming to the recipient from it")

    @property
    def site(self) -> str:
        return self.id.split("/", 1)[0]


class Series(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)+$")
    asset: str
    quantity: Quantity
    unit: str
    owner: str | None = Field(None, description="Defaults to the asset's owner")
    range: tuple[float, float] = Field(description="Physical range [min, max]; readings "
                                       "outside it are rejected")
    description: str | None = None

    @model_validator(mode="after")
    def _unit_fits(self) -> Series:
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r}; known: {', '.join(UNITS)}")
        if UNITS[self.unit][0] != self.quantity:
            raise ValueError(f"unit {self.unit} does not measure {self.quantity}")
        if self.range[0] >= self.range[1]:
            raise ValueError(f"range {list(self.range)} must be [min, max] with min < max")
        return self


class DerivedPower(_Strict):
    """Heat power from a flow and two temperatures, as a series of its own."""

    key: str
    kind: Literal["heat_power"] = "heat_power"
    asset: str
    flow: str
    temp_in: str
    temp_out: str
    owner: str | None = None


class SupplyBand(_Strict):
    series: str
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> SupplyBand:
        if self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class Exchange(_Strict):
    """The contract between a supplier and a recipient of heat."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    supplier: str
    recipient: str
    exchanger: str
    recipient_assets: list[str] = Field(default_factory=list)
    supply_band: SupplyBand | None = None
    contracted_power_kw: float | None = Field(None, gt=0)
    notice_period_h: float = Field(ge=0)
    shared_series: list[str] = Field(default_factory=list,
                                     description="Series the recipient may read; the "
                                     "supplier may read the recipient-owned ones listed")
    contingency: list[str] = Field(default_factory=list,
                                   description="Steps for the recipient when supply is lost")
    metering_points: list[MeteringPoint] = Field(default_factory=list,
                                                 description="Meters the contract settles by")
    settlement: Settlement | None = None


class Gateway(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    owner: str
    series: list[str] = Field(description="Series keys or prefixes ending in /* the gateway "
                              "may ingest")


class Subscription(_Strict):
    """Where one contact of an organisation wants its alerts."""

    org: str
    contact: str = Field(description="Person or role, e.g. 'farm night shift'")
    channel: Literal["webhook", "email", "mqtt", "dashboard"]
    address: str = Field(description="URL, e-mail address or MQTT topic")
    min_severity: Literal["warning", "alarm"] = "warning"
    escalation_level: int = Field(0, ge=0, description="0 is told first; level n when an "
                                  "alert is still unacknowledged after n escalation delays")
    secret_env: str | None = Field(None, description="Environment variable holding the "
                                   "webhook's HMAC-SHA256 secret")


class AlertPolicy(_Strict):
    escalate_after_s: float = Field(900.0, gt=0)
    group_window_s: float = Field(30.0, ge=0, description="Notifications to one recipient "
                                  "within this window go out as one")
    max_notifications_per_hour: int = Field(30, gt=0, description="Per recipient; what is "
                                            "held back is summarised, never dropped")
    retry_for_s: float = Field(86400.0, gt=0, description="How long a delivery is retried "
                               "before it is marked failed")
    maintenance_reminder_lead_s: float = Field(3600.0, ge=0, description="Recipients are told "
                                               "again this long before a window starts")


class WritablePoint(_Strict):
    """A setpoint heatlink may change at a plant, through that plant's gateway."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)+$")
    asset: str
    owner: str = Field(description="Only this organisation may request a change")
    gateway: str = Field(description="The gateway that writes it (subscribes to commands)")
    node_id: str = Field(description="OPC UA node, e.g. ns=2;s=<key>")
    unit: str
    range: tuple[float, float] = Field(description="Values the plant accepts [min, max]")
    ramp_rule: str | None = Field(None, description="A ramp rule whose max rise/fall the "
                                  "change must respect (the recipient's limit)")
    max_rate_per_h: float | None = Field(None, gt=0, description="An explicit limit; with a "
                                         "ramp_rule too, the stricter applies")
    rate_fraction: float = Field(0.8, gt=0, le=1, description="Plan at this share of the "
                                 "limit: the plant's own controller overshoots a little")
    ease_s: float = Field(1800.0, ge=0, description="Rate builds up over this long at the "
                          "start and eases off at the end, so the plant's controller does "
                          "not overshoot a sharp corner")
    step_s: float = Field(120.0, gt=0, description="One command per this long")
    command_ttl_s: float = Field(600.0, gt=0, description="A command not confirmed within "
                                 "this expires and is never applied")
    max_attempts: int = Field(2, ge=1, description="Attempts per step before the ramp stops")
    tolerance: float = Field(0.01, ge=0, description="Readback within this is a match")
    depends_on: list[str] = Field(default_factory=list, description="Series that must be "
                                  "fresh; a stale one holds the ramp")
    max_input_age_s: float = Field(120.0, gt=0)
    interlock_rules: list[str] = Field(default_factory=list, description="An active alarm "
                                       "from one of these rules holds the ramp")

    @model_validator(mode="after")
    def _has_limit(self) -> WritablePoint:
        if self.ramp_rule is None and self.max_rate_per_h is None:
            raise ValueError("give ramp_rule or max_rate_per_h: every change is rate-limited")
        if self.range[0] >= self.range[1]:
            raise ValueError(f"range {list(self.range)} must be [min, max] with min < max")
        return self


class HardLimit(_Strict):
    """Bounds set in the cluster file that no rule on ``series`` may be looser than.

    Rules change through the API (by their owner, with the ``safety`` scope); these do not:
    they are the fish-health vet's or the plant's limits, changed only by editing the file.
    """

    series: str
    widest_band: tuple[float, float] | None = Field(
        None, description="A band rule's low may not go below [0] nor its high above [1]; a "
        "bounded side may not be removed")
    max_rate_per_h: float | None = Field(None, gt=0, description="A ramp rule's max rise and "
                                         "fall (unit per hour) may not exceed it nor be removed")
    max_delay_s: float | None = Field(None, ge=0, description="Most on_delay_s a band or "
                                      "ramp rule may wait before it raises")
    max_age_s: float | None = Field(None, gt=0, description="Most max_age_s of a stale rule")
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> HardLimit:
        if self.widest_band is not None and self.widest_band[0] >= self.widest_band[1]:
            raise ValueError(f"widest_band {list(self.widest_band)} must be [low, high] "
                             "with low < high")
        return self


class ClusterInfo(_Strict):
    name: str
    timezone: str = "Europe/Oslo"
    description: str | None = None


class Cluster(_Strict):
    cluster: ClusterInfo
    organisations: list[Organisation]
    sites: list[Site]
    assets: list[Asset]
    series: list[Series]
    derived: list[DerivedPower] = Field(default_factory=list)
    exchanges: list[Exchange] = Field(default_factory=list)
    gateways: list[Gateway] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    hard_limits: list[HardLimit] = Field(default_factory=list)
    subscriptions: list[Subscription] = Field(default_factory=list)
    alerting: AlertPolicy = Field(default_factory=AlertPolicy)
    writable_points: list[WritablePoint] = Field(default_factory=list)
