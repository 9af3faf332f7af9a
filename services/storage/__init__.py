"""Storage: the PostgreSQL pool, migrations, TimescaleDB features and a local server."""
