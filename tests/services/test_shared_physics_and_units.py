"""Water properties and units shared by the gateway, the service and the simulators."""

from __future__ import annotations

import pytest

from heatlink.units import UnitError, convert, unece_unit_id, unit_from_symbol, unit_from_unece
from heatlink.water import density_kg_per_m3, heat_power_w, specific_heat_j_per_kg_k


@pytest.mark.parametrize(("temp_c", "cp"), [
    (0.0, 4217.6),    # table point
    (10.0, 4192.1),   # table point
    (15.0, 4186.95),  # halfway between 10 and 20
    (90.0, 4205.0),   # last point
    (120.0, 4205.0),  # held beyond the table
])
def test_specific_heat(temp_c: float, cp: float) -> None:
    assert specific_heat_j_per_kg_k(temp_c) == pytest.approx(cp)


def test_density_falls_with_temperature() -> None:
    assert density_kg_per_m3(4.0) > density_kg_per_m3(60.0) > density_kg_per_m3(80.0)


def test_heat_power_of_elkem_salten_cooling_water() -> None:
    # domain.md: 30 m³/min returned at 25 °C is about 27 MW relative to 12 °C water.
    power_w = heat_power_w(30 * 60, 25.0, 12.0)
    assert power_w == pytest.approx(27e6, rel=0.02)


@pytest.mark.parametrize(("value", "src", "dst", "expected"), [
    (32.0, "degF", "degC", 0.0),
    (283.15, "K", "degC", 10.0),
    (1.0, "l/s", "m3/h", 3.6),
    (2.5, "MW", "kW", 2500.0),
    (3.0, "m3/min", "m3/h", 180.0),
])
def test_unit_conversions(value: float, src: str, dst: str, expected: float) -> None:
    assert convert(value, src, dst) == pytest.approx(expected)


def test_units_of_different_quantities_do_not_convert() -> None:
    with pytest.raises(UnitError, match="measures flow"):
        convert(1.0, "m3/h", "degC")
    with pytest.raises(UnitError, match="unknown unit"):
        convert(1.0, "furlongs", "degC")


@pytest.mark.parametrize(("code", "unit"), [
    ("CEL", "degC"), ("KEL", "K"), ("MQH", "m3/h"), ("G51", "l/s"), ("G53", "m3/min"),
    ("KWT", "kW"), ("MAW", "MW"), ("P1", "%"), ("XYZ", None)])
def test_opc_ua_unit_ids_are_unece_common_codes(code: str, unit: str | None) -> None:
    # OPC 10000-8: the Int32 UnitId packs the code's characters, e.g. CEL = 4408652.
    assert unece_unit_id("CEL") == 4408652
    assert unit_from_unece(unece_unit_id(code)) == unit


@pytest.mark.parametrize(("symbol", "unit"), [
    ("°C", "degC"), ("degC", "degC"), ("Celsius", "degC"), ("m³/h", "m3/h"), ("L/s", "l/s"),
    ("MW", "MW"), ("mW", None), ("gpm", None)])
def test_units_as_plants_write_them(symbol: str, unit: str | None) -> None:
    assert unit_from_symbol(symbol) == unit
