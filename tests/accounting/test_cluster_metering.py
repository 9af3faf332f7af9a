"""Metering points in the cluster file: every mistake named with its place."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from heatlink.cluster.loader import EXAMPLE_CLUSTER, ClusterFileError, parse_cluster


def _example() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    return loaded


def test_the_example_settles_heat_and_cooling_water_with_both_parties_meters() -> None:
    exchange = parse_cluster(_example()).exchanges[0]
    owners = {(p.resource, p.owner) for p in exchange.metering_points}
    assert owners == {("heat", "glomfjord-smelter"), ("heat", "fjordsmolt"),
                      ("cooling_water", "glomfjord-smelter"), ("cooling_water", "fjordsmolt")}
    assert exchange.settlement is not None
    assert exchange.settlement.substitution is not None


def test_cross_reference_mistakes_are_named() -> None:
    raw = _example()
    points = raw["exchanges"][0]["metering_points"]
    points[0]["register_series"] = "glomfjord/smelter/hx1/secondary/flow"  # a flow, not energy
    points[1]["owner"] = "mo-greenhouse"
    points[1]["temp_in"] = "glomfjord/nowhere/temp"
    points[3]["billing"] = True  # two billing water meters
    with pytest.raises(ClusterFileError) as caught:
        parse_cluster(raw)
    text = str(caught.value)
    assert ("exchanges[0].metering_points[0].register_series: "
            "'glomfjord/smelter/hx1/secondary/flow' measures flow, not energy") in text
    assert "exchanges[0].metering_points[1].owner: 'mo-greenhouse' is neither" in text
    assert "metering_points[1].temp_in: unknown series 'glomfjord/nowhere/temp'" in text
    assert "mark exactly one of the two cooling_water meters billing: true" in text


def test_a_heat_meter_without_its_rating_is_refused() -> None:
    raw = _example()
    del raw["exchanges"][0]["metering_points"][1]["qi"]
    with pytest.raises(ClusterFileError, match="a heat meter needs qi"):
        parse_cluster(raw)
