"""How `./dev test` shares the tests among its pytest-xdist workers.

A module's tests run on one worker, in their order: several modules share a module-scoped
service or world whose later tests build on what earlier ones did. The modules that each
simulate a plant at 900x share one worker, one at a time: two at once starve each other of
the CPU they need to keep up with their clock (steps expired, ramps held).

xdist's own ``loadgroup`` would say this with markers, but it renames the tests through a
node attribute pytest 9 no longer reads, so here the controller, which sees only test ids,
groups them itself.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

PLANTS_AT_900X = "plants simulated at 900x"
GROUPS = {
    "tests/control/test_control_on_screen.py": PLANTS_AT_900X,
    "tests/control/test_expiry_end_to_end.py": PLANTS_AT_900X,
    "tests/control/test_interlocks_end_to_end.py": PLANTS_AT_900X,
    "tests/control/test_ramp_end_to_end.py": PLANTS_AT_900X,
    "tests/control/test_trust_end_to_end.py": PLANTS_AT_900X,
}


# The monitor's scenario tests are each a simulated day or more on the CPU (30 s and up on
# a loaded machine): as one module on one worker they were the run's longest stretch. Each
# goes to a worker of its own but for those reading the same day, which its worker keeps
# (tests/monitor/scenarios.py): those go together, by a part of their test ids.
SCENARIOS = "tests/monitor/test_scenarios.py"
SHARED_DAYS = {
    "furnace-trip": ("test_furnace_trip_warns", "[furnace-trip-restart]", "[furnace-trip]"),
    "restart-full-heat": ("[restart-full-heat]", "test_a_restart_at_full_heat",
                          "test_a_heat_meter_spike"),
    "flapping-supply": ("[flapping-supply]", "test_a_trip_while_the_tank_still_rises"),
    "planned-stop": ("[planned-stop-planned_stop_end]", "_and_the_tanks_low[1]"),
    "partial-loss": ("test_a_partial_loss", "test_the_second_furnaces_ramped_return"),
    "comms-loss": ("test_lost_communication", "test_a_replay_a_day_late"),
}


def scope_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its module, its group, or a scenario's day."""
    module = nodeid.split("::", 1)[0]
    if module != SCENARIOS:
        return GROUPS.get(module, module)
    day = next((day for day, marks in SHARED_DAYS.items()
                if any(mark in nodeid for mark in marks)), None)
    return f"{SCENARIOS}: {day}" if day else nodeid


# The run is CPU-bound on two cores, and what is left at its end runs on one. The long units
# go out first, in this order (by a part of their unit's name); the rest by their number of
# tests, as xdist orders them (which put the scenario tests, a unit each, last: a minute of
# one worker alone at the end).
LONG_FIRST = (PLANTS_AT_900X, "tests/gateway/test_end_to_end.py",
              "test_a_slow_decline_predicts", "test_the_demos_day", SCENARIOS,
              "tests/api/test_fuzz.py", "tests/gateway/test_database_failover.py")


def in_order(collection: list[str]) -> list[str]:
    """The tests, their units kept together, in the order the units are handed out."""
    scopes = [scope_of(nodeid) for nodeid in collection]
    size = Counter(scopes)
    first_seen = {scope: n for n, scope in reversed(list(enumerate(scopes)))}

    def rank(scope: str) -> tuple[int, int, int]:
        long = next((n for n, part in enumerate(LONG_FIRST) if part in scope),
                    len(LONG_FIRST))
        return long, -size[scope], first_seen[scope]
    return [nodeid for _, nodeid in sorted(zip(scopes, collection, strict=True),
                                           key=lambda pair: rank(pair[0]))]


class ByModule(LoadScopeScheduling):
    """Whole modules (or groups of them, or a scenario's day) to the next free worker, the
    long ones first."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

    def __init__(self, config: Any, log: Any = None) -> None:
        # The workers collect in `in_order`'s order (`pytest_collection_modifyitems`), and
        # that order is kept. (The controller cannot reorder on its own: it tells a worker
        # which tests to run by their places in the worker's own collection.)
        config.option.loadscopereorder = False
        super().__init__(config, log)

    def remove_node(self, node: WorkerController) -> str | None:
        """A worker that died (our watchdog ends a worker whose test ran past its timeout)
        while running a test: xdist reports that test failed, and its scope's other tests
        go to another worker. The test itself is not run again, as xdist's plain load
        scheduling does not: xdist's scope scheduling would hand it out again, to time out
        again, and a scope put back after every other worker was told to stop waited for
        a worker forever, a run that never ended."""
        workload = self.assigned_work.get(node, {})
        crashed = next((nodeid for unit in workload.values()
                        for nodeid, done in unit.items() if not done), None)
        for unit in workload.values():
            if crashed in unit:
                unit[crashed] = True
        super().remove_node(node)
        return crashed
