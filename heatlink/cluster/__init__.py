"""The cluster model: organisations, sites, assets, series, exchanges and rules."""
