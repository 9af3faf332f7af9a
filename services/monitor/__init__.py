"""The constraint monitor: evaluates stored readings against the cluster's rules.

One way through: ingest commits a batch → `services.ingest.observer.ReadingsObserver` (the runtime's
`QueueObserver`) → background task → `engine.Engine.process` → findings and watermarks
stored in one transaction (`store`), the derived heat power in it through ingest's store
(`services.ingest.derived`) → `heatlink.findings.FindingSink` (the alert module).

- rule declarations of the cluster file (band, ramp, stale, supply_disruption,
  exchanger_health) live on the ground floor: `heatlink.cluster.rule_spec`, their hard
  bounds in `heatlink.cluster.bounds`.
- `engine` (pure, no I/O, no clock) over `series` (index, derived series, history rows),
  `history` (windows with running sums), `derive` (heat power, UA), `latch`
  (hysteresis and delays), `signal_rules` (band with predicted breach, ramp),
  `plant_rules` (disruption, exchanger health), `stale`, `physics`, `plan`.
- `rules`: `Rule.evaluate(t_s, values) -> RuleResult` for one rule over one series.
- `runtime`: `start_monitor(...)`, restore and catch-up after a restart, rule changes.
- `router`, `schemas`: the API (`heatlink bench monitor` is `bench/monitor.py`). `testing`: fakes.
"""
