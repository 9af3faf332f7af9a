"""The Kubernetes manifests (deploy/kubernetes/) against the service they run.

What an operator would notice if these drifted: a setting that the service does not read
(a typo, a renamed variable) silently left at its default; a probe on a path the service
does not serve, so the pod never becomes ready or is restarted in a loop; a file setting
pointing where nothing is mounted; a disruption budget or Service that selects no pod; a
database without TimescaleDB. Parsed with PyYAML; no cluster is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from alerts.settings import AlertSettings
from services.health.router import router as health_router
from services.settings import ControlSettings, Settings

FOLDER = Path(__file__).parents[2] / "deploy" / "kubernetes"
SETTINGS: tuple[type[BaseSettings], ...] = (Settings, AlertSettings, ControlSettings)


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(FOLDER.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents() if d["kind"] == kind
             and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container() -> dict[str, Any]:
    containers = one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def read_by_service() -> dict[str, tuple[type[BaseSettings], str]]:
    """Every environment variable the service reads: HEATLINK_<FIELD> of its settings."""
    names = {}
    for cls in SETTINGS:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field in cls.model_fields:
            names[(prefix + field).upper()] = (cls, field)
    return names


def environment() -> dict[str, str]:
    """What the pod's environment holds: the ConfigMap, the Secret and the explicit env."""
    c = container()
    env: dict[str, str] = {}
    for source in c["envFrom"]:
        if "configMapRef" in source:
            env |= one("ConfigMap", source["configMapRef"]["name"])["data"]
        if "secretRef" in source:
            env |= one("Secret", source["secretRef"]["name"])["stringData"]
    for item in c.get("env", []):
        env[item["name"]] = item.get("value", "postgresql://app:secret@heatlink-db-rw:5432/app")
    return env


def test_the_kustomization_lists_every_manifest_and_each_parses() -> None:
    listed = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())["resources"]
    present = sorted(p.name for p in FOLDER.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present
    kinds = sorted(d["kind"] for d in documents())
    assert kinds == sorted(["Namespace", "Cluster", "ConfigMap", "Secret", "Deployment",
                            "Service", "PodDisruptionBudget"])


def test_every_variable_set_is_one_the_service_reads() -> None:
    known = read_by_service()
    env = environment()
    unknown = sorted(set(env) - set(known))
    assert not unknown, f"set in deploy/kubernetes but read by no settings class: {unknown}"
    assert "HEATLINK_DATABASE_URL" in env


def test_the_values_are_valid_settings_and_reach_the_service(
        monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment()
    for name in read_by_service():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    loaded = {cls: cls() for cls in SETTINGS}  # raises on a value of the wrong type
    for name, value in env.items():
        cls, field = read_by_service()[name]
        got = getattr(loaded[cls], field)
        assert str(got).lower() == value.lower(), f"{name}={value!r} was read as {got!r}"
    settings = loaded[Settings]
    assert isinstance(settings, Settings)
    assert settings.require_timescaledb


def test_secrets_are_not_in_the_config_map() -> None:
    data = one("ConfigMap")["data"]
    assert not [k for k in data if any(w in k for w in ("PASSWORD", "SECRET", "DATABASE_URL"))]
    secret = one("Secret")["stringData"]
    assert "HEATLINK_ALERTS_LINK_SECRET" in secret  # else one-click links die with the pod


def test_files_named_by_settings_are_mounted() -> None:
    env = environment()
    mounts = [m["mountPath"] for m in container()["volumeMounts"]]
    volumes = {v["name"]: v for v in one("Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert {m["name"] for m in container()["volumeMounts"]} <= set(volumes)
    files = {k: v for k, v in env.items() if k.endswith("_FILE")}
    assert "HEATLINK_CLUSTER_FILE" in files
    for name, path in files.items():
        assert any(path.startswith(m.rstrip("/") + "/") for m in mounts), \
            f"{name}={path} lies under no volume mount ({mounts})"


def test_probes_ask_paths_the_service_serves_on_its_port() -> None:
    c = container()
    served = {getattr(r, "path", None) for r in health_router.routes}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] in served
        assert ports[get["port"]] == 8000
    command = c["command"]
    assert command[:2] == ["heatlink", "serve"]
    assert command[command.index("--port") + 1] == str(ports["http"])
    assert command[command.index("--host") + 1] == "0.0.0.0"


def test_selectors_find_the_service_pods() -> None:
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selects = [deployment["spec"]["selector"]["matchLabels"],
               one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
               one("Service")["spec"]["selector"]]
    for selector in selects:
        assert selector.items() <= labels.items()
    assert one("Service")["spec"]["ports"][0]["targetPort"] == "http"


def test_the_database_is_timescaledb_under_cloudnativepg_and_its_url_reaches_the_pod() -> None:
    cluster = one("Cluster")
    assert cluster["apiVersion"].startswith("postgresql.cnpg.io/")
    spec = cluster["spec"]
    assert "timescale" in spec["imageName"]
    assert "timescaledb" in spec["postgresql"]["shared_preload_libraries"]
    assert spec["instances"] >= 2  # a replica to promote
    assert any("CREATE EXTENSION" in sql and "timescaledb" in sql
               for sql in spec["bootstrap"]["initdb"]["postInitTemplateSQL"])
    url = next(e for e in container()["env"] if e["name"] == "HEATLINK_DATABASE_URL")
    # CloudNativePG writes the application's URL into <cluster>-app, key uri.
    assert url["valueFrom"]["secretKeyRef"] == {"name": f"{cluster['metadata']['name']}-app",
                                                "key": "uri"}


def test_replicas_act_as_one_only_with_the_partitioned_monitor() -> None:
    """Several replicas judge the readings of every replica only with the monitor
    partitioned by lease (deploy/HA.md, item 2); without it each would raise false stale
    alarms for what reaches the other. One pod at a time is replaced or evicted."""
    spec = one("Deployment")["spec"]
    settings = one("ConfigMap")["data"]
    assert spec["replicas"] >= 2
    assert int(settings["HEATLINK_MONITOR_PARTITIONS"]) >= spec["replicas"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert one("PodDisruptionBudget")["spec"]["minAvailable"] == 1
