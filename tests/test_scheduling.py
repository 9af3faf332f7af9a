"""The suite's scheduling (tests/support/scheduling.py) names real modules: every module
that simulates a plant at 900x is in the group that runs them one at a time; and a test
that ends its worker is reported once, without the run waiting for it forever."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from xdist.workermanage import WorkerController

from tests.support.scheduling import GROUPS, PLANTS_AT_900X, ByModule

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_with_a_plant_at_900x_is_in_its_group() -> None:
    with_plant = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                  if p != Path(__file__).resolve() and "async with plant(" in p.read_text()}
    assert with_plant
    assert {m for m, g in GROUPS.items() if g == PLANTS_AT_900X} == with_plant


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
