"""Benchmarks: scripts that print figures, run by `heatlink bench NAME`.

Composition, not product: they drive the gateway, the service and the alerts from outside,
so no product package imports them (an import-linter contract in pyproject.toml says so).
"""
