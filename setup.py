"""The one compiled part of heatlink, and an optional one: Sparkplug's data path
(`gateway.sparkplug._plain_data`), decoded by protobuf-c from code that protoc-c generates
at build time out of `sparkplug_b_plain.proto`, the plain data message's fields of the
specification's .proto.

It needs protoc-c, protobuf-c's headers and library, and a C compiler (Debian:
protobuf-c-compiler, libprotobuf-c-dev, gcc, python3-dev). Where any is missing the build
says so and goes on without it: the gateway then decodes Sparkplug with `protobuf` alone,
the same readings at a lower rate. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError

SPARKPLUG = Path("gateway/sparkplug")
PROTO = "sparkplug_b_plain.proto"  # the fields of a plain data message: see its header


class BuildExt(build_ext):
    def build_extension(self, ext: Extension) -> None:
        if ext.name == "gateway.sparkplug._plain_data":
            generated = Path(self.build_temp) / "protobuf-c"
            generated.mkdir(parents=True, exist_ok=True)
            protoc_c = shutil.which("protoc-c")
            if protoc_c is None:
                raise CompileError("protoc-c is not installed (Debian: protobuf-c-compiler)")
            try:
                subprocess.run([protoc_c, f"--proto_path={SPARKPLUG}", f"--c_out={generated}",
                                str(SPARKPLUG / PROTO)], check=True)
            except subprocess.CalledProcessError as exc:  # (optional: a warning, as above)
                raise CompileError(f"protoc-c failed on {PROTO}: {exc}") from exc
            ext.sources = [*ext.sources, str(generated / f"{Path(PROTO).stem}.pb-c.c")]
            ext.include_dirs = [*ext.include_dirs, str(generated)]
        super().build_extension(ext)


setup(
    ext_modules=[Extension("gateway.sparkplug._plain_data",
                           sources=[str(SPARKPLUG / "plain_data.c")],
                           libraries=["protobuf-c"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
