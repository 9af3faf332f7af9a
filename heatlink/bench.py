"""`heatlink bench NAME`: each benchmark is a script owned by the part it measures."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Benchmarks that print figures. Run one at a time on a quiet machine.",
                  no_args_is_help=True, add_completion=False)

BENCHMARKS = {
    "ingest": "services.ingest.bench",
    "gateway": "gateway.bench",
    "monitor": "services.monitor.bench",
    "alerts": "alerts.bench",
    "dashboard": "services.dashboard.bench",
    "accounting": "services.accounting.bench",
    "protection": "services.protection_bench",
}


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(ctx: typer.Context, name: str = typer.Argument(..., help=", ".join(BENCHMARKS))) -> None:
    """Run the benchmark NAME; arguments after it go to the benchmark."""
    if name not in BENCHMARKS:
        typer.echo(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}", err=True)
        raise typer.Exit(2)
    try:
        module = importlib.import_module(BENCHMARKS[name])
    except ModuleNotFoundError as exc:
        if exc.name and BENCHMARKS[name].startswith(exc.name):
            typer.echo(f"heatlink bench {name}: not built yet", err=True)
            raise typer.Exit(2) from exc
        raise
    module.app(args=list(ctx.args), prog_name=f"heatlink bench {name}")
