"""`heatlink serve`: run the central service."""

from __future__ import annotations

import logging

import typer
import uvicorn

from services.app import create_app
from services.settings import Settings
from services.storage.embedded import database_for

app = typer.Typer(add_completion=False)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
) -> None:
    """Run the API (and, as they are built, monitor, alerts and dashboard) in one process."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with database_for(settings) as url:
        api = create_app(settings.model_copy(update={"database_url": url}))
        # Open live streams would hold shutdown forever; browsers reconnect after a restart.
        uvicorn.run(api, host=host, port=port, log_level=settings.log_level.lower(),
                    access_log=False, timeout_graceful_shutdown=5)
