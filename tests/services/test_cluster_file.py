"""Cluster files: the example loads; every mistake names the file, the path and the fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.loader import EXAMPLE_CLUSTER, ClusterFileError, load_cluster


def example() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE_CLUSTER.read_text())
    return loaded


def write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_example_cluster_loads_with_its_three_exchanges() -> None:
    cluster = load_cluster(EXAMPLE_CLUSTER)
    assert [e.id for e in cluster.exchanges] == ["glomfjord-smolt", "mo-district-heat",
                                                 "mo-greenhouse"]
    assert "SYNTHETIC" in EXAMPLE_CLUSTER.read_text()


def mutate_recipient(doc: dict[str, Any]) -> None:
    doc["exchanges"][2]["recipient"] = "nobody"


def mutate_unknown_key(doc: dict[str, Any]) -> None:
    doc["series"][3]["colour"] = "red"


def mutate_unit(doc: dict[str, Any]) -> None:
    doc["series"][1]["unit"] = "m3/h"


def mutate_range(doc: dict[str, Any]) -> None:
    doc["series"][0]["range"] = [10, 5]


def mutate_rule(doc: dict[str, Any]) -> None:
    doc["rules"][0]["series"] = "glomfjord/smoltfarm/tank9/temp"


def mutate_feeds(doc: dict[str, Any]) -> None:
    doc["assets"][0]["feeds"] = ["glomfjord/smelter/hx9"]


def mutate_rule_past_hard_limit(doc: dict[str, Any]) -> None:
    next(r for r in doc["rules"] if r["id"] == "tank1-ramp-alarm")["max_rise_per_h"] = 5.0


def mutate_hard_limit_series(doc: dict[str, Any]) -> None:
    doc["hard_limits"][0]["series"] = "glomfjord/smoltfarm/tank9/temp"


def mutate_warm_share(doc: dict[str, Any]) -> None:
    tank = next(a for a in doc["assets"] if a["id"] == "glomfjord/smoltfarm/tank1")
    tank["thermal_model"]["warm_share_series"] = "glomfjord/smoltfarm/tank1/valve9"


def mutate_load_unknown(doc: dict[str, Any]) -> None:
    doc["assets"][0]["load_series"] = "glomfjord/smelter/furnace/setpoint9"


def mutate_load_not_percent(doc: dict[str, Any]) -> None:
    doc["assets"][0]["load_series"] = "glomfjord/smelter/furnace/heat_output"


def mutate_load_on_a_tank(doc: dict[str, Any]) -> None:
    tank = next(a for a in doc["assets"] if a["id"] == "glomfjord/smoltfarm/tank1")
    tank["load_series"] = "glomfjord/smoltfarm/tank1/mixing_valve"


def mutate_band_order(doc: dict[str, Any]) -> None:
    next(r for r in doc["rules"] if r["id"] == "greenhouse-band")["low"] = 40.0


@pytest.mark.parametrize(("mutate", "expected"), [
    (mutate_recipient, "exchanges[2].recipient: unknown organisation 'nobody'"),
    (mutate_unknown_key, "series[3].colour: unknown key"),
    (mutate_unit, "series[1]: Value error, unit m3/h does not measure temperature"),
    (mutate_range, "series[0]: Value error, range [10.0, 5.0] must be [min, max]"),
    (mutate_rule, "rules[0].series: unknown series 'glomfjord/smoltfarm/tank9/temp'"),
    (mutate_feeds, "assets[0].feeds[0]: unknown asset 'glomfjord/smelter/hx9'"),
    (mutate_rule_past_hard_limit, "rules[2] (tank1-ramp-alarm): max_rise_per_h 5 is looser "
                                  "than the hard limit 2 per hour"),
    (mutate_hard_limit_series, "hard_limits[0].series: unknown series"),
    (mutate_band_order, "rules[11] (greenhouse-band): low 40 must be below high 30"),
    (mutate_warm_share, "assets[3].thermal_model.warm_share_series: unknown series "
                        "'glomfjord/smoltfarm/tank1/valve9'"),
    (mutate_load_unknown, "assets[0].load_series: unknown series "
                          "'glomfjord/smelter/furnace/setpoint9'"),
    (mutate_load_not_percent, "assets[0].load_series: 'glomfjord/smelter/furnace/heat_output' "
                              "must be a series of 'glomfjord/smelter/furnace' in %"),
    (mutate_load_on_a_tank, "assets[3].load_series: only a heat source has a load; "
                            "'glomfjord/smoltfarm/tank1' is a fish_tank"),
])
def test_a_mistake_is_named_with_file_and_path(tmp_path: Path, mutate: Any,
                                               expected: str) -> None:
    doc = example()
    mutate(doc)
    path = write(tmp_path, doc)
    with pytest.raises(ClusterFileError) as caught:
        load_cluster(path)
    assert f"{path}: {expected}" in str(caught.value)


def test_all_mistakes_are_listed_at_once(tmp_path: Path) -> None:
    doc = example()
    mutate_recipient(doc)
    mutate_rule(doc)
    with pytest.raises(ClusterFileError) as caught:
        load_cluster(write(tmp_path, doc))
    assert len(caught.value.problems) == 2


def test_unreadable_files_say_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("organisations: [\n")
    with pytest.raises(ClusterFileError, match="not valid YAML"):
        load_cluster(bad)
    with pytest.raises(ClusterFileError, match="cannot read the file"):
        load_cluster(tmp_path / "missing.yaml")


def test_visibility_follows_the_contracts() -> None:
    index = ClusterIndex(load_cluster(EXAMPLE_CLUSTER))
    farm = index.visible_series("fjordsmolt")
    smelter = index.visible_series("glomfjord-smelter")
    assert "glomfjord/smelter/hx1/secondary/supply_temp" in farm
    assert "glomfjord/smelter/hx1/primary/supply_temp" not in farm
    # The furnace's load warns the farm through the monitor; its value stays the smelter's.
    assert "glomfjord/smelter/furnace/load" not in farm
    assert "glomfjord/smelter/furnace/load" in smelter
    # The farm's inflow is listed in the contract, so the supplier sees it too.
    assert "glomfjord/smoltfarm/tank1/inflow" in smelter
    assert "glomfjord/smoltfarm/tank1/temp" not in smelter
    assert index.visible_series("cluster-facilitator") == frozenset(index.series)
    assert index.downstream("glomfjord/smelter/furnace") == [
        "glomfjord/smelter/hx1", "glomfjord/pipeline/p1", "glomfjord/smoltfarm/tank1"]
    assert index.gateway_series("mo-gw1") == {k for k in index.series
                                              if k.startswith("mo/") and
                                              not index.series[k].derived}
