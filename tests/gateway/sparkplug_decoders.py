"""The Sparkplug host's two decoders, for tests that hold both to the same rules:
"compiled" (protobuf-c, `gateway.sparkplug._plain_data`, built by setup.py where protobuf-c
is installed) and "protobuf" (the `protobuf` package alone, the fallback). Where the
compiled one is not built its cases are skipped, unless HEATLINK_REQUIRE_COMPILED_SPARKPLUG
is 1 (`./dev test` sets it, having installed protobuf-c): then they fail."""

from __future__ import annotations

import os

import pytest

from gateway.sparkplug.host import take_plain

REQUIRED = os.environ.get("HEATLINK_REQUIRE_COMPILED_SPARKPLUG") == "1"
NOT_BUILT = "gateway.sparkplug._plain_data is not built (setup.py needs protoc-c and protobuf-c)"


def _compiled() -> object:
    if take_plain is None and not REQUIRED:
        return pytest.param("compiled", marks=pytest.mark.skip(reason=NOT_BUILT))
    return "compiled"


DECODERS = [_compiled(), "protobuf"]


def require_compiled() -> None:
    """Fail (where required) or skip a test of the compiled decoder that is not built."""
    if take_plain is None:
        if REQUIRED:
            pytest.fail(NOT_BUILT)
        pytest.skip(NOT_BUILT)
