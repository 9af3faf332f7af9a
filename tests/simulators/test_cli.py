"""`heatlink simulate` as a user runs it: listing, a short run, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from services.storage.local_postgres import free_port
from simulators.scenario import list_scenarios

HEATLINK = [sys.executable, "-c", "from heatlink.cli import main; main()"]


def test_list_names_every_shipped_scenario() -> None:
    out = subprocess.run([*HEATLINK, "simulate", "--list"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert [line.split()[0] for line in out.splitlines()] == list_scenarios()


def test_a_short_run_writes_its_ground_truth(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    done = subprocess.run(
        [*HEATLINK, "simulate", "furnace-trip", "--speed", "20000", "--duration", "5400",
         "--opcua-port", str(free_port()), "--ground-truth", str(truth)],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "opc.tcp://" in done.stdout
    kinds = [json.loads(line)["kind"] for line in truth.read_text().splitlines()]
    assert kinds[0] == "trip"
    assert "below_min" in kinds


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    with subprocess.Popen([*HEATLINK, "simulate", "normal-day", "--speed", "1",
                           "--opcua-port", str(port)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=tmp_path) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks until the simulator says it runs
            if "Ctrl-C stops" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    # Without --ground-truth the run still leaves one, under var/simulate/.
    (truth,) = (tmp_path / "var" / "simulate").glob("normal-day-*.jsonl")
    assert truth.read_text() == ""  # nothing happened in its first seconds
