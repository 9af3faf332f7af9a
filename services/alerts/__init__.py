"""The alerts domain's HTTP edge: the routes that need the service's tokens and scopes.

The alert logic itself lives in the top-level `alerts` package, which imports nothing of
`services`; this package composes it with `services.access`.
"""
