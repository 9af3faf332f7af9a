"""The gateway's log: its own lines, and the libraries' only when asked for.

The gateway logs one line when a source or the uplink goes down and one when it recovers.
Its libraries would say much more: httpx one INFO line per request (dozens a second under
load), asyncua an ERROR with a traceback on every failed retry of a server that is away.
Those go below WARNING: shown with ``--log-level DEBUG`` (or a level per library in
``verbose``), never in an edge box's journal otherwise.
"""

from __future__ import annotations

import logging

LIBRARIES = ("asyncua", "httpx", "httpcore", "paho")


def configure_logging(level: str = "INFO", *, verbose: tuple[str, ...] = ()) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    for name in LIBRARIES:
        if debug or name in verbose:
            logging.getLogger(name).setLevel(logging.NOTSET)
        else:
            # Above CRITICAL: what they report, the gateway says once in its own words.
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
