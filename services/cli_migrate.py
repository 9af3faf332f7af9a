"""`heatlink migrate`: apply database migrations and switch on TimescaleDB features."""

from __future__ import annotations

import asyncio

import typer

from services.settings import Settings
from services.storage import timescale
from services.storage.migrate import apply_migrations

app = typer.Typer(add_completion=False)


@app.command()
def migrate() -> None:
    """Apply what is missing; safe to run twice and from two processes at once."""
    settings = Settings()
    if not settings.database_url:
        typer.echo("HEATLINK_DATABASE_URL is not set: nothing to migrate", err=True)
        raise typer.Exit(2)
    url = settings.database_url

    async def run() -> None:
        applied = await apply_migrations(url)
        features = await timescale.enable(url, chunk_interval_hours=settings.chunk_interval_hours,
                                          retention_days=settings.retention_days)
        for m in applied:
            typer.echo(f"applied {m.version:04d}_{m.name}")
        typer.echo(f"schema current; storage: {features.describe()}")

    asyncio.run(run())
