"""`heatlink bench NAME`: the benchmarks live here, outside the parts they measure."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Benchmarks that print figures. Run one at a time on a quiet machine.",
                  no_args_is_help=True, add_completion=False)

BENCHMARKS = {
    "ingest": "bench.ingest",
    "gateway": "bench.gateway",
    "monitor": "bench.monitor",
    "alerts": "bench.alerts",
    "dashboard": "bench.dashboard",
    "accounting": "bench.accounting",
    "storage": "bench.storage",
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
