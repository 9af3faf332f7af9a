"""heatlink: what the gateway, the service and the simulators share.

This package holds only the pieces every part needs (the wire format, water
properties, the clock and the CLI entry point). It imports nothing heavy, so the
edge gateway installs it without the service's dependencies.
"""

__version__ = "0.1.0"
