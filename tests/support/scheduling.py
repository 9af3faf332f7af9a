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


class ByModule(LoadScopeScheduling):
    """Whole modules (or groups of them) to the next free worker."""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return GROUPS.get(module, module)

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
