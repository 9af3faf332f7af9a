"""The floors hold (ARCHITECTURE.md): `lint-imports` keeps the contracts in pyproject.toml,
and breaks them when a lower floor imports a higher one or two modules import each other.

The violations are made in a copy of the tree, so the real one is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("heatlink", "gateway", "services", "alerts", "simulators", "demo", "bench")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of the editable install of the real tree.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"),
                           "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=100, check=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "static"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


# (file, the import added, what lint-imports must then report)
VIOLATIONS = [
    pytest.param("heatlink/clock.py", "services.app", "heatlink.clock -> services.app",
                 id="the ground floor imports the service"),
    pytest.param("alerts/dedup.py", "services.access.deps",
                 "alerts.dedup -> services.access.deps", id="alerts import the service"),
    pytest.param("services/monitor/series.py", "services.monitor.engine",
                 "No circle between modules of one package BROKEN",
                 id="two modules import each other"),
    pytest.param("alerts/runtime.py", "alerts.testing", "alerts.runtime -> alerts.testing",
                 id="a product path uses a fake"),
]


@pytest.mark.parametrize(("path", "module", "reported"), VIOLATIONS)
def test_a_violation_breaks_a_contract(tree: Path, path: str, module: str,
                                       reported: str) -> None:
    source = tree / path
    original = source.read_text()
    try:
        add_line(source, f"import {module}  # noqa: E402")
        result = lint_imports(tree)
    finally:
        source.write_text(original)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert reported in result.stdout


PRODUCT = ("heatlink", "gateway", "services", "alerts", "simulators", "demo")


def test_runtimes_reach_routes_only_through_their_typed_parts() -> None:
    # `app.state` is one typed `Runtimes`, bound and read in services/deps.py alone: a read
    # anywhere else is an untyped service locator again (issue 13).
    found = [f"{path.relative_to(ROOT)}:{n}"
             for package in PRODUCT for path in sorted((ROOT / package).rglob("*.py"))
             if path != ROOT / "services" / "deps.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if "app.state" in line or "getattr(request" in line]
    assert found == []
