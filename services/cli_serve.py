"""`heatlink serve`: run the central service."""

from __future__ import annotations

import gc
import logging

import typer
import uvicorn

from services.app import create_app
from services.settings import Settings
from services.storage.embedded import database_for

app = typer.Typer(add_completion=False)


def tune_garbage_collector(settings: Settings) -> None:
    """Collect less often than Python's default (every 700 allocations).

    Ingest allocates a few objects per reading while the process holds a large live heap
    (the live stream's replay ring, the monitor's history); at the default the collector
    walks that heap many times a second and costs about a fifth of ingest throughput.
    """
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(settings.gc_gen0_threshold, gen1, gen2)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
) -> None:
    """Run the API (and, as they are built, monitor, alerts and dashboard) in one process."""
    settings = Settings()
    tune_garbage_collector(settings)
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with database_for(settings) as url:
        api = create_app(settings.model_copy(update={"database_url": url}))
        # Open live streams would hold shutdown forever; browsers reconnect after a restart.
        uvicorn.run(api, host=host, port=port, log_level=settings.log_level.lower(),
                    access_log=False, timeout_graceful_shutdown=5)
