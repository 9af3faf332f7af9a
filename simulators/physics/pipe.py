"""Transport pipe: plug flow with a delay of volume divided by flow.

Parcels of water enter with the step's volume and temperature; what leaves is the
parcel that has been pushed a full pipe volume along. With a varying flow the delay
varies too, as it does in a real pipeline. Heat loss along the pipe is neglected.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Pipe:
    volume_m3: float
    initial_temp_c: float
    _parcels: deque[tuple[float, float]] = field(default_factory=deque)  # (volume m³, °C)
    _held_m3: float = 0.0

    def __post_init__(self) -> None:
        self._parcels.append((self.volume_m3, self.initial_temp_c))
        self._held_m3 = self.volume_m3

    def delay_s(self, flow_m3_per_h: float) -> float:
        return float("inf") if flow_m3_per_h <= 0 else self.volume_m3 / flow_m3_per_h * 3600.0

    def push(self, temp_c: float, flow_m3_per_h: float, dt_s: float) -> float:
        """Add this step's inflow; return the temperature of the water leaving now."""
        added_m3 = max(flow_m3_per_h, 0.0) * dt_s / 3600.0
        if added_m3 <= 0.0:
            return self._parcels[0][1]
        self._parcels.append((added_m3, temp_c))
        self._held_m3 += added_m3
        # Drop parcels that have left entirely; the front one is now at the outlet.
        while self._held_m3 - self._parcels[0][0] >= self.volume_m3:
            vol, _ = self._parcels.popleft()
            self._held_m3 -= vol
        return self._parcels[0][1]
