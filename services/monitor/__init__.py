"""The constraint monitor: evaluates stored readings against the cluster's rules."""
