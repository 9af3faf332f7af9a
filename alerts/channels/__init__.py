"""Delivery channels: each does one I/O job and reports what happened as a value."""
