"""The `heatlink` command. Each subcommand hands its arguments to the part that owns it.

Parts are imported only when their subcommand runs, so a gateway-only install starts
`heatlink gateway` without FastAPI, asyncpg or numpy on the machine.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer

app = typer.Typer(
    help="heatlink: monitoring and control of surplus heat exchange in an industrial cluster.",
    no_args_is_help=True,
    add_completion=False,
)

# subcommand -> (module holding a Typer app named `app`, extra that provides it)
PARTS: dict[str, tuple[str, str]] = {
    "serve": ("services.cli_serve", "service"),
    "migrate": ("services.cli_migrate", "service"),
    "demo": ("demo.cli", "demo"),
    "gateway": ("gateway.cli", "gateway"),
    "simulate": ("simulators.cli", "simulators"),
    "bench": ("bench.cli", "all"),
    "token": ("services.access.cli", "service"),
    "user": ("services.access.user_cli", "service"),
    "control": ("services.control.cli", "service"),
}

PASS_THROUGH: dict[str, Any] = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}


def _load(command: str) -> typer.Typer:
    module_name, extra = PARTS[command]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            typer.echo(f"heatlink {command}: not built yet", err=True)
            raise typer.Exit(2) from exc
        typer.echo(
            f"heatlink {command}: needs the '{extra}' extra ({exc.name} is missing); "
            f"install it with: pip install 'heatlink[{extra}]'",
            err=True,
        )
        raise typer.Exit(2) from exc
    part_app: typer.Typer = module.app
    return part_app


def _delegate(command: str, args: list[str]) -> None:
    part_app = _load(command)
    part_app(args=args, prog_name=f"heatlink {command}", standalone_mode=True)


def _make_command(command: str, summary: str) -> None:
    @app.command(name=command, help=summary, context_settings=PASS_THROUGH, add_help_option=False)
    def _command(ctx: typer.Context) -> None:
        _delegate(command, list(ctx.args))


_make_command("serve", "Run the central service (API, monitor, alerts, dashboard).")
_make_command("migrate", "Apply the database migrations.")
_make_command("demo", "Run the whole system on embedded defaults.")
_make_command("gateway", "Run the edge gateway, or discover an OPC UA server.")
_make_command("simulate", "Run a simulated cluster scenario over OPC UA and MQTT.")
_make_command("bench", "Run a benchmark: ingest, gateway, monitor, alerts, dashboard, accounting, "
              "storage, e2e, protection.")
_make_command("token", "Create, list and revoke API tokens (for machines).")
_make_command("user", "People who log in: create, list, disable, passwd.")
_make_command("control", "Keys that sign setpoint commands: keygen, pubkey.")


def main() -> None:
    app(prog_name="heatlink")


if __name__ == "__main__":
    main()
