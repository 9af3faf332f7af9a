"""CPU seconds spent by the processes of a benchmark, from Linux's /proc.

On a machine shared with other work, readings per second move with the neighbours' load;
CPU seconds per reading do not, and they are what a capacity plan multiplies. Linux only:
elsewhere every figure is NaN.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def _fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after its last ')'.
    return text[text.rindex(")") + 2:].split()


def process_cpu_s(pid: int) -> float:
    """User and system CPU seconds of one process, all its threads."""
    f = _fields(pid)
    return float("nan") if f is None else (int(f[11]) + int(f[12])) * _TICK_S


def server_cpu_s(postmaster_pid: int) -> float:
    """A PostgreSQL server's CPU seconds: the postmaster, its live children (backends,
    WAL writer, checkpointer…) and the children that have exited (cutime, cstime)."""
    own = _fields(postmaster_pid)
    if own is None:
        return float("nan")
    total = sum(int(x) for x in own[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            f = _fields(int(entry.name))
            if f is not None and int(f[1]) == postmaster_pid:
                total += int(f[11]) + int(f[12])
    return total * _TICK_S


def postmaster_of(backend_pid: int) -> int | None:
    """The postmaster of a backend (``pg_backend_pid()``), when it runs on this machine:
    the backend's parent, if that is a postgres process."""
    f = _fields(backend_pid)
    if f is None:
        return None
    parent = int(f[1])
    try:
        name = Path(f"/proc/{parent}/comm").read_text().strip()
    except OSError:
        return None
    return parent if name.startswith("postgres") else None
