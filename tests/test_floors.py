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


def test_the_ground_floor_importing_the_service_breaks_the_floors(tree: Path) -> None:
    clock = tree / "heatlink" / "clock.py"
    original = clock.read_text()
    try:
        add_line(clock, "import services.app  # noqa: E402")
        result = lint_imports(tree)
    finally:
        clock.write_text(original)
    assert result.returncode != 0
    assert "Floors point one way" in result.stdout
    assert "BROKEN" in result.stdout
    assert "heatlink.clock -> services.app" in result.stdout


def test_alerts_importing_the_service_breaks_the_floors(tree: Path) -> None:
    dedup = tree / "alerts" / "dedup.py"
    original = dedup.read_text()
    try:
        add_line(dedup, "import services.access.deps  # noqa: E402")
        result = lint_imports(tree)
    finally:
        dedup.write_text(original)
    assert result.returncode != 0
    assert "alerts.dedup -> services.access.deps" in result.stdout


def test_two_modules_importing_each_other_break_the_circle_contract(tree: Path) -> None:
    series = tree / "services" / "monitor" / "series.py"
    original = series.read_text()
    try:
        add_line(series, "import services.monitor.engine  # noqa: E402")
        result = lint_imports(tree)
    finally:
        series.write_text(original)
    assert result.returncode != 0
    assert "No circle between modules of one package BROKEN" in result.stdout


def test_a_product_path_using_a_fake_breaks_the_product_contract(tree: Path) -> None:
    runtime = tree / "alerts" / "runtime.py"
    original = runtime.read_text()
    try:
        add_line(runtime, "import alerts.testing  # noqa: E402")
        result = lint_imports(tree)
    finally:
        runtime.write_text(original)
    assert result.returncode != 0
    assert "alerts.runtime -> alerts.testing" in result.stdout
