"""A cleanup that runs when this process ends, however it ends (SIGKILL included).

The local PostgreSQL and Mosquitto that the demo and the tests start must not outlive
them. A clean stop stops them; a process killed outright runs no Python at all, and
PR_SET_PDEATHSIG does not help either, since the servers change their user (which clears
it) and pg_ctl detaches the postmaster anyway. So a tiny watcher (``sh``) holds the read
end of a pipe whose write end only this process has: when this process dies the kernel
closes it, the watcher reads end-of-file and runs the cleanup. A clean stop disarms it.
"""

from __future__ import annotations

import os
import subprocess

# The watcher: one line "disarm" means the owner cleaned up itself; end-of-file means the
# owner is gone, so clean up after it.
_WATCH = 'read -r line; [ "$line" = disarm ] || exec sh -c "$1"'


class ExitGuard:
    def __init__(self, cleanup: str) -> None:
        """Arm a watcher that runs the shell command ``cleanup`` once this process dies."""
        read_end, self._write_end = os.pipe()  # not inherited by other children (PEP 446)
        try:
            # Its own session: a Ctrl-C on the terminal must not take the watcher first.
            self._watcher = subprocess.Popen(
                ["sh", "-c", _WATCH, "exit-guard", cleanup], stdin=read_end,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        finally:
            os.close(read_end)

    def disarm(self) -> None:
        """The owner has cleaned up itself: the watcher leaves without doing anything."""
        if self._write_end < 0:
            return
        try:
            os.write(self._write_end, b"disarm\n")
        except BrokenPipeError:
            pass  # the watcher is gone already
        finally:
            os.close(self._write_end)
            self._write_end = -1
        self._watcher.wait()
