"""How a reading's quality is stored: one small integer per reading, the same in the
gateway's buffer, the readings table and the monitor's arrays."""

from __future__ import annotations

QUALITY_CODES = {"good": 0, "uncertain": 1, "bad": 2, "unknown": 3}
QUALITY_NAMES = {code: name for name, code in QUALITY_CODES.items()}
