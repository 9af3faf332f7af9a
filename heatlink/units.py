"""Engineering units a series may be declared in, and conversions into them.

A reading may name the unit it was measured in; the service converts it into the
series' declared unit, or rejects it when the two measure different things.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class Quantity(StrEnum):
    TEMPERATURE = "temperature"
    FLOW = "flow"
    POWER = "power"
    ENERGY = "energy"
    POSITION = "position"
    PRESSURE = "pressure"
    LEVEL = "level"
    VOLUME = "volume"  # cumulative, e.g. a water meter's register
    MASS = "mass"  # cumulative, e.g. CO2 delivered
    MASS_FLOW = "mass_flow"


# unit -> (quantity, function into the quantity's base unit, function out of it)
_Convert = Callable[[float], float]
UNITS: dict[str, tuple[Quantity, _Convert, _Convert]] = {
    "degC": (Quantity.TEMPERATURE, lambda v: v, lambda v: v),
    "K": (Quantity.TEMPERATURE, lambda v: v - 273.15, lambda v: v + 273.15),
    "degF": (Quantity.TEMPERATURE, lambda v: (v - 32.0) / 1.8, lambda v: v * 1.8 + 32.0),
    "m3/h": (Quantity.FLOW, lambda v: v, lambda v: v),
    "m3/min": (Quantity.FLOW, lambda v: v * 60.0, lambda v: v / 60.0),
    "l/s": (Quantity.FLOW, lambda v: v * 3.6, lambda v: v / 3.6),
    "kW": (Quantity.POWER, lambda v: v, lambda v: v),
    "MW": (Quantity.POWER, lambda v: v * 1000.0, lambda v: v / 1000.0),
    "W": (Quantity.POWER, lambda v: v / 1000.0, lambda v: v * 1000.0),
    "kWh": (Quantity.ENERGY, lambda v: v, lambda v: v),
    "MWh": (Quantity.ENERGY, lambda v: v * 1000.0, lambda v: v / 1000.0),
    "%": (Quantity.POSITION, lambda v: v, lambda v: v),
    "bar": (Quantity.PRESSURE, lambda v: v, lambda v: v),
    "kPa": (Quantity.PRESSURE, lambda v: v / 100.0, lambda v: v * 100.0),
    "m": (Quantity.LEVEL, lambda v: v, lambda v: v),
    "m3": (Quantity.VOLUME, lambda v: v, lambda v: v),
    "t": (Quantity.MASS, lambda v: v, lambda v: v),
    "kg": (Quantity.MASS, lambda v: v / 1000.0, lambda v: v * 1000.0),
    "t/h": (Quantity.MASS_FLOW, lambda v: v, lambda v: v),
    "kg/h": (Quantity.MASS_FLOW, lambda v: v / 1000.0, lambda v: v * 1000.0),
}


class UnitError(ValueError):
    pass


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit``; UnitError if they cannot convert."""
    if from_unit == to_unit:
        return value
    q_from, into_base, _ = UNITS.get(from_unit) or _unknown(from_unit)
    q_to, _, out_of_base = UNITS.get(to_unit) or _unknown(to_unit)
    if q_from != q_to:
        raise UnitError(f"{from_unit} measures {q_from}, the series is {to_unit} ({q_to})")
    return out_of_base(into_base(value))


def _unknown(unit: str) -> tuple[Quantity, _Convert, _Convert]:
    raise UnitError(f"unknown unit {unit!r}")


# How plants write these units: OPC UA's EUInformation carries a UN/CEFACT Recommendation 20
# common code (its UnitId) and a display name; Sparkplug metrics a free-text property.
UNECE_CODES: dict[str, str] = {
    "CEL": "degC", "KEL": "K", "FAH": "degF",
    "MQH": "m3/h", "G53": "m3/min", "G51": "l/s",
    "KWT": "kW", "MAW": "MW", "WTT": "W",
    "KWH": "kWh", "MWH": "MWh",
    "P1": "%", "BAR": "bar", "KPA": "kPa", "MTR": "m",
}
# Case matters ("mW" is not "MW"), so symbols are matched exactly; words in any case.
_SYMBOLS: dict[str, str] = {
    "°C": "degC", "℃": "degC", "° C": "degC", "°F": "degF", "℉": "degF",
    "m³/h": "m3/h", "m^3/h": "m3/h", "m³/min": "m3/min", "m^3/min": "m3/min",
    "L/s": "l/s", "kw": "kW", "kWh": "kWh",
}
_WORDS: dict[str, str] = {"celsius": "degC", "kelvin": "K", "fahrenheit": "degF",
                          "percent": "%"}


def unece_unit_id(code: str) -> int:
    """The Int32 OPC UA stores for a common code: its ASCII characters, high byte first."""
    unit_id = 0
    for char in code[:4]:
        unit_id = (unit_id << 8) | ord(char)
    return unit_id


_BY_UNIT_ID = {unece_unit_id(code): unit for code, unit in UNECE_CODES.items()}


def unit_from_unece(unit_id: int) -> str | None:
    """heatlink's name of an OPC UA EUInformation.UnitId; None for a unit it does not know."""
    return _BY_UNIT_ID.get(unit_id)


def unit_from_symbol(symbol: str) -> str | None:
    """heatlink's name of a unit as a plant writes it ("°C", "m³/h", "kW"), if it knows it."""
    text = symbol.strip()
    if text in UNITS:
        return text
    return _SYMBOLS.get(text) or _WORDS.get(text.lower())
