"""Two meters of one resource, one hour: do they agree within their errors?

Each meter may be off by its maximum permissible error; two honest meters can therefore
differ by up to the sum of the two. An hour is ``agreed`` when the difference is below
that sum (or nil), else ``disputed``; both parties see the same verdict.
"""

from __future__ import annotations

AGREED = "agreed"
DISPUTED = "disputed"
INCOMPLETE = "incomplete"  # one of the two meters has no figure for the hour


def verdict(billing: float | None, billing_error: float | None, check: float | None,
            check_error: float | None) -> str:
    if billing is None or check is None:
        return INCOMPLETE
    difference = abs(billing - check)
    if difference == 0:
        return AGREED
    combined = (billing_error or 0.0) + (check_error or 0.0)
    return AGREED if difference < combined else DISPUTED
