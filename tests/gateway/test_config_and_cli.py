"""The config file: strict, errors name the path; the CLI entry points."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import ConfigError, load_config
from gateway.runner import tune_process
from heatlink.cli import app as heatlink_app

EXAMPLE = Path(__file__).parents[2] / "gateway" / "examples" / "nordland-sim.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("change", "says"), [
    (("queue_size: 100", "queue_sise: 100"), "sources.0.opcua.queue_sise: Extra inputs"),
    (("batch_max_readings: 5000", "batch_max_readings: 50000"),
     "uplink.batch_max_readings: Input should be less than or equal to 20000"),
    (("filter: heatlink-sim/glomfjord/smoltfarm/#", "filter: a/#/b"),
     "sources.1.mqtt.topics.0: Value error, not a valid MQTT topic filter"),
    (("policy: None, mode: None", "policy: Basic256Sha256, mode: Sign"),
     "sources.0.opcua.security: Value error, a secure policy needs certificate"),
    (("series: glomfjord/smelter/hx1/secondary/flow}",
      "series: glomfjord/smelter/hx1/secondary/flow, unit: gpm}"),
     "sources.0.opcua.nodes.7.unit: Value error, unknown unit 'gpm'"),
    (("lanes: 2 ", "lanes: 0 "), "uplink.lanes: Input should be greater than or equal to 1"),
    (("lanes: 2 ", "lanes: 9 "), "uplink.lanes: Input should be less than or equal to 8"),
])
def test_errors_name_the_file_and_the_path(tmp_path: Path, change: tuple[str, str],
                                           says: str) -> None:
    text = EXAMPLE.read_text()
    assert change[0] in text
    path = write(tmp_path, text.replace(change[0], change[1]))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert says in str(caught.value)


def test_relative_paths_are_relative_to_the_file() -> None:
    config = load_config(EXAMPLE)
    assert config.buffer.path == EXAMPLE.parent / "var/gateway/buffer.sqlite3"


def test_heatlink_gateway_delegates_and_reports_config_errors(tmp_path: Path) -> None:
    bad = write(tmp_path, "sources: []\n")
    result = CliRunner().invoke(heatlink_app, ["gateway", "--config", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: sources: List should have at least 1 item" in result.output
    ok = CliRunner().invoke(app, ["check", "--config", str(EXAMPLE)])
    assert ok.exit_code == 0
    assert "ok" in ok.output


def test_unset_secret_variables_are_named_at_check_and_refused_at_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The MQTT source's login (the first password_env of the example) names a variable
    # nobody set.
    text = EXAMPLE.read_text().replace("password_env: HEATLINK_GATEWAY_MQTT_PASSWORD",
                                       "password_env: HEATLINK_TEST_UNSET", 1)
    assert "HEATLINK_TEST_UNSET" in text
    path = write(tmp_path, text)
    monkeypatch.delenv("HEATLINK_TEST_UNSET", raising=False)
    monkeypatch.delenv("HEATLINK_GATEWAY_TOKEN", raising=False)
    checked = CliRunner().invoke(app, ["check", "--config", str(path)])
    assert checked.exit_code == 0
    assert (f"{path}: warning: sources.1.password_env: environment variable "
            "HEATLINK_TEST_UNSET is not set") in checked.output
    assert "uplink.token_env: environment variable HEATLINK_GATEWAY_TOKEN" in checked.output
    run = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert run.exit_code == 2
    assert "sources.1.password_env: environment variable HEATLINK_TEST_UNSET is not set" \
        in run.output
    monkeypatch.setenv("HEATLINK_TEST_UNSET", "s3cret")
    monkeypatch.setenv("HEATLINK_GATEWAY_TOKEN", "t")
    monkeypatch.setenv("HEATLINK_GATEWAY_MQTT_PASSWORD", "s3cret")  # the control channel's
    assert "warning" not in CliRunner().invoke(app, ["check", "--config", str(path)]).output


def test_a_gateway_process_hands_the_gil_over_often_and_collects_young_objects_less() -> None:
    # (process-wide settings: restored, so that no other test runs under them)
    interval_s, threshold = sys.getswitchinterval(), gc.get_threshold()
    try:
        sys.setswitchinterval(0.005)
        gc.set_threshold(700, 10, 10)
        tune_process()
        assert sys.getswitchinterval() == pytest.approx(0.0005)
        assert gc.get_threshold() == (10_000, 10, 10)
        sys.setswitchinterval(0.0001)  # one set shorter by whoever runs the process stays
        tune_process()
        assert sys.getswitchinterval() < 0.0002
    finally:
        sys.setswitchinterval(interval_s)
        gc.set_threshold(*threshold)
