"""CSV export of readings for a time range."""
