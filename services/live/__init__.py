"""The live stream: value updates (and, as they are built, alert events) as server-sent events."""
