"""Reading a test's log for what an outage of the database left in it.

Other tests of the session may still have tasks running (a service on a database that is
gone, a gateway sending to it); what they log is not this test's. These helpers look only
at records about the database being unreachable.
"""

from __future__ import annotations

import logging

from services.storage.health import unavailable_reason


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def outage_tracebacks(records: list[logging.LogRecord]) -> list[str]:
    """Records carrying a traceback whose exception (or its cause) is the database being
    unreachable: an outage told per request or per attempt instead of once."""
    return [f"{r.name}: {r.getMessage()}" for r in records
            if r.exc_info and any(unavailable_reason(e) is not None
                                  for e in _chain(r.exc_info[1]))]
