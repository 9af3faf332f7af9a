#!/usr/bin/env bash
# Proves that the gateway installs and starts with only `pip install .[gateway]`:
# a fresh venv (no system site packages), the gateway extra, then every gateway module
# imported and `heatlink gateway check` run on the example config. Called from CI.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet "$here[gateway]"
cd "$(dirname "$venv")"   # not the source tree: import the installed package
"$venv/bin/python" - <<'PY'
import importlib, pkgutil, sys
import gateway
for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
    importlib.import_module(module.name)
# The distribution ships every package's code; what matters is that the gateway loads
# none of it and that the service's dependencies are not on the machine at all.
for part in ("services", "alerts", "simulators"):
    assert part not in sys.modules, f"the gateway imported {part}"
for heavy in ("fastapi", "asyncpg", "numpy", "uvicorn"):
    assert heavy not in sys.modules, f"{heavy} was imported"
    try:
        importlib.import_module(heavy)
    except ImportError:
        pass
    else:
        sys.exit(f"{heavy} is installed: the gateway extra pulls in more than it should")
print("gateway imports with only the gateway extra")
import os
from gateway.sparkplug.host import take_plain
built = take_plain is not None
print("Sparkplug data decoded", "by protobuf-c (compiled)" if built else "by protobuf alone")
if os.environ.get("HEATLINK_REQUIRE_COMPILED_SPARKPLUG") == "1" and not built:
    sys.exit("the compiled Sparkplug decoder was not built (setup.py: protoc-c, protobuf-c)")
PY
"$venv/bin/heatlink" gateway check --config "$here/gateway/examples/nordland-sim.yaml"
"$venv/bin/heatlink" gateway --help >/dev/null
echo "ok: minimal gateway install works"
