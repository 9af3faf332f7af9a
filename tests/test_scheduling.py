"""The suite's scheduling names real modules: every module that simulates a plant at 900x
is in the group that runs them one at a time (tests/support/scheduling.py)."""

from __future__ import annotations

from pathlib import Path

from tests.support.scheduling import GROUPS, PLANTS_AT_900X

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_with_a_plant_at_900x_is_in_its_group() -> None:
    with_plant = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                  if p != Path(__file__).resolve() and "async with plant(" in p.read_text()}
    assert with_plant
    assert {m for m, g in GROUPS.items() if g == PLANTS_AT_900X} == with_plant
