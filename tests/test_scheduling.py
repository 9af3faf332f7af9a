"""The suite's scheduling (tests/support/scheduling.py) names real modules and tests: every
module that simulates a plant at 900x is in the group that runs them one at a time, the
scenario tests sharing a simulated day are picked by their ids; and a test that ends its
worker is reported once, without the run waiting for it forever."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from xdist.workermanage import WorkerController

from tests.support.scheduling import (
    GROUPS,
    PLANTS_AT_900X,
    SCENARIOS,
    SHARED_DAYS,
    ByModule,
    in_order,
    scope_of,
)

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_with_a_plant_at_900x_is_in_its_group() -> None:
    with_plant = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                  if p != Path(__file__).resolve() and "async with plant(" in p.read_text()}
    assert with_plant
    assert {m for m, g in GROUPS.items() if g == PLANTS_AT_900X} == with_plant


def test_each_shared_scenario_day_names_real_tests_and_none_twice() -> None:
    """Every mark picks at least one scenario test and no test is picked for two days: a
    renamed test would otherwise go to a worker of its own and simulate its day again."""
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                             "-p", "no:cacheprovider", SCENARIOS],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    tests = [line for line in listed.stdout.splitlines() if line.startswith(SCENARIOS + "::")]
    assert len(tests) > 20
    for day, marks in SHARED_DAYS.items():
        for mark in marks:
            assert [t for t in tests if mark in t], (day, mark)
    for test in tests:
        days = [day for day, marks in SHARED_DAYS.items() if any(m in test for m in marks)]
        assert len(days) <= 1, (test, days)
        assert scope_of(test) == (f"{SCENARIOS}: {days[0]}" if days else test)


def test_the_long_units_go_out_first_and_every_unit_whole() -> None:
    collection = ["tests/a.py::t1", f"{SCENARIOS}::test_x", "tests/b.py::t1", "tests/a.py::t2",
                  f"{SCENARIOS}::test_a_slow_decline_predicts_it[1]",
                  "tests/gateway/test_end_to_end.py::t", "tests/control/test_ramp_end_to_end.py::t"]
    assert in_order(collection) == [
        "tests/control/test_ramp_end_to_end.py::t", "tests/gateway/test_end_to_end.py::t",
        f"{SCENARIOS}::test_a_slow_decline_predicts_it[1]", f"{SCENARIOS}::test_x",
        "tests/a.py::t1", "tests/a.py::t2", "tests/b.py::t1"]


@dataclass(eq=False)
class FakeWorker:
    """What the scheduler asks of an xdist worker: tests sent to it, and whether it stops."""

    name: str
    sent: list[int] = field(default_factory=list)
    shutting_down: bool = False

    @property
    def gateway(self) -> SimpleNamespace:
        return SimpleNamespace(id=self.name)

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def test_a_test_that_ended_its_worker_is_reported_once_and_the_run_finishes(
        pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pytestconfig.option, "tx", ["2*popen"])  # as -n 2 says
    collection = ["tests/a.py::t1", "tests/a.py::t2", "tests/b.py::t1"]
    sched = ByModule(pytestconfig)
    crashing, other = FakeWorker("gw0"), FakeWorker("gw1")
    for worker in (crashing, other):
        sched.add_node(cast(WorkerController, worker))
        sched.add_node_collection(cast(WorkerController, worker), collection)
    sched.schedule()
    a_worker = crashing if 0 in crashing.sent else other
    b_worker = other if a_worker is crashing else crashing
    # b's only test runs and its worker is told to stop; a's first test ends its worker.
    sched.mark_test_complete(cast(WorkerController, b_worker), 2)

    crashed = sched.remove_node(cast(WorkerController, a_worker))

    assert crashed == "tests/a.py::t1"
    replacement = FakeWorker("gw2")
    sched.add_node(cast(WorkerController, replacement))
    sched.add_node_collection(cast(WorkerController, replacement), collection)
    sched.schedule()
    assert replacement.sent == [1]  # t2 of the same module, not t1 again
    sched.mark_test_complete(cast(WorkerController, replacement), 1)
    assert sched.tests_finished
