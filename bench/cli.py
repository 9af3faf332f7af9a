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
    "e2e": "bench.e2e",
    "protection": "bench.protection",
    "failover": "bench.failover",
}


# --help too goes to the benchmark (`heatlink bench e2e --help` shows the benchmark's
# options); without a name it shows this command's help.
@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "help_option_names": []}, add_help_option=False)
def run(ctx: typer.Context,
        name: str | None = typer.Argument(None, help=", ".join(BENCHMARKS))) -> None:
    """Run the benchmark NAME; arguments after it go to the benchmark."""
    if name is None or name in ("--help", "-h"):
        typer.echo(ctx.get_help())
        raise typer.Exit(2 if name is None else 0)
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
