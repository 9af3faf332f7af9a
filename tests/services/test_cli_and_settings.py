"""The `heatlink` command and the settings it reads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def heatlink(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatlink.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_help_lists_every_subcommand() -> None:
    out = heatlink("--help").stdout
    for command in ("serve", "migrate", "demo", "bench", "gateway", "simulate", "token", "user"):
        assert command in out


def test_an_unknown_benchmark_is_refused_by_name() -> None:
    result = heatlink("bench", "teleport")
    assert result.returncode != 0
    assert "unknown benchmark 'teleport'" in result.stderr


def test_a_benchmark_shows_its_own_options() -> None:
    result = heatlink("bench", "e2e", "--help")
    assert result.returncode == 0, result.stderr
    assert "heatlink bench e2e" in result.stdout
    for option in ("--changes", "--rate", "--publishing-interval-ms"):
        assert option in result.stdout


def test_migrate_without_a_database_says_what_is_missing() -> None:
    result = subprocess.run([sys.executable, "-m", "heatlink.cli", "migrate"],
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert result.returncode == 2
    assert "HEATLINK_DATABASE_URL is not set" in result.stderr


def test_a_gateway_token_must_name_its_gateway() -> None:
    result = heatlink("token", "create", "--org", "glomfjord-smelter", "--role", "gateway",
                      "--name", "gw1")
    assert result.returncode == 2
    assert "a gateway token needs --gateway" in result.stderr


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`(HEATLINK_[A-Z0-9_]+)`", readme))
    # alerts and control are sections, documented under their own prefixes
    declared = {f"HEATLINK_{name.upper()}" for name in Settings.model_fields
                if name not in ("alerts", "control")}
    assert declared <= documented, f"undocumented: {sorted(declared - documented)}"
