"""Simulated plants of a heat-exchange cluster, for tests, demos and benchmarks.

The API other parts use (names are a contract):

- ``simulators.physics``: pure, deterministic models (source, ε-NTU exchanger, pipe,
  tank, controls, district heating, greenhouse, sensors).
- ``simulators.scenario``: ``list_scenarios()``, ``load_scenario(name_or_path)``.
- ``simulators.offline.run_offline(scenario, *, seed=1, duration_s=None, start=None)``
  → ``SimulationResult`` with ``.readings`` and ``.truth``.
- ``simulators.live.LiveSimulation(scenario, *, speed=60, seed=1, opcua_port=None,
  mqtt_url=None, ground_truth_path=None, ...)``: an async context manager serving
  OPC UA and MQTT in real time × speed.
- ``simulators.load``: ``OpcUaLoad``, ``opcua_load``, ``mqtt_load`` for benchmarks.

Nothing here runs at import.
"""
