"""The gateway runs with only the `gateway` extra: it never imports the service's, the alert
worker's or the simulators' code, nor their heavy dependencies.

The in-test proof blocks those modules with a meta path finder in a fresh interpreter; the
real proof, a venv with only `pip install .[gateway]`, is gateway/ci_minimal_install.sh.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

GATEWAY = Path(__file__).parents[2] / "gateway"
# orjson is not here: the gateway extra has it too (payloads in, batches out).
FORBIDDEN = ("services", "alerts", "simulators", "fastapi", "asyncpg", "numpy", "uvicorn",
             "starlette", "aiosmtpd", "psutil", "demo", "bench")

PROBE = f"""
import importlib.abc, sys
FORBIDDEN = {FORBIDDEN!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"the gateway must not import {{name}}")
        return None
sys.meta_path.insert(0, Block())
import pkgutil, importlib, gateway
for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
    importlib.import_module(module.name)
from typer.testing import CliRunner
from gateway.cli import app
result = CliRunner().invoke(app, ["check", "--config", "gateway/examples/nordland-sim.yaml"])
assert result.exit_code == 0, result.output
from heatlink.cli import app as top
result = CliRunner().invoke(top, ["gateway", "check", "--config",
                                  "gateway/examples/nordland-sim.yaml"])
assert result.exit_code == 0, result.output
print("ok")
"""


def test_every_gateway_module_imports_without_the_service_stack() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          cwd=GATEWAY.parent, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_no_gateway_source_file_names_a_forbidden_package() -> None:
    for path in GATEWAY.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path}: imports {name}"
