"""Which way a condition takes the heat: lost, too much, or a question of the sensor."""

LOSS_STATES = frozenset({"disrupted", "low", "predicted_low", "falling", "predicted_falling"})
EXCESS_STATES = frozenset({"high", "predicted_high", "rising", "predicted_rising"})
# Data-quality states describe a sensor, not the heat: only the owners hear of them.
DATA_STATES = frozenset({"unknown", "suspect"})
