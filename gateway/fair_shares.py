"""How a batch is shared between series, so a long backlog never starves live readings.

Order is kept per series (oldest first), so a live reading of a series with a backlog must
wait behind that backlog anyway. What must not happen is that series without a backlog wait
behind another series' backlog: each batch gives every pending series an equal share first.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def fair_shares(pending: Mapping[K, int], max_readings: int) -> dict[K, int]:
    """How many of each series' oldest readings go into the next batch (water-filling).

    Series with fewer pending readings than an equal share take all of theirs, and what they
    leave is shared among the others. The sum is min(max_readings, total pending).
    """
    rows = sorted(((n, k) for k, n in pending.items() if n > 0), key=lambda row: row[0])
    shares: dict[K, int] = {}
    left = max_readings
    while rows and left > 0:
        equal = left // len(rows)
        count, key = rows[0]
        if equal > 0 and count <= equal:
            shares[key] = count
            left -= count
            rows.pop(0)
            continue
        # Every remaining series has more than an equal share: each takes its share, and
        # what does not divide evenly goes one each to the first ones.
        for _, key in rows:
            shares[key] = equal
        for _, key in rows[:left - equal * len(rows)]:
            shares[key] += 1
        break
    return {k: n for k, n in shares.items() if n > 0}
