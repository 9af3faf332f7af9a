"""`heatlink gateway ...`: run the gateway from a config file, or discover an OPC UA server.

`heatlink gateway --config FILE` is short for `heatlink gateway run --config FILE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import typer

app = typer.Typer(help="The heatlink edge gateway: OPC UA and MQTT in, store and forward out.",
                  add_completion=False, invoke_without_command=True)

CONFIG_OPTION = typer.Option(None, "--config", "-c", help="gateway config file (YAML)")
LIBRARY_LOGS = typer.Option([], "--library-log", help="also show this library's own log "
                            "lines (asyncua, httpx, paho); all of them at --log-level DEBUG")


@app.callback()
def main(ctx: typer.Context, config: Path | None = CONFIG_OPTION,
         log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING"),
         library_logs: list[str] = LIBRARY_LOGS) -> None:
    from gateway.logs import configure_logging

    configure_logging(log_level, verbose=tuple(library_logs))
    if ctx.invoked_subcommand is None:
        if config is None:
            typer.echo(ctx.get_help())
            raise typer.Exit(2)
        _run(config)


@app.command()
def run(config: Path = typer.Option(..., "--config", "-c", help="gateway config file")) -> None:
    """Run the gateway until SIGINT or SIGTERM."""
    _run(config)


@app.command()
def check(config: Path = typer.Option(..., "--config", "-c")) -> None:
    """Check a config file and exit; name the secrets it refers to that are not set here."""
    loaded = _load(config, secrets=False)
    from gateway.config import GatewayConfig

    assert isinstance(loaded, GatewayConfig)
    for line in loaded.unset_secrets():
        # A warning, not a failure: the file may be checked away from the box that runs it.
        typer.echo(f"{config}: warning: {line}; `run` refuses to start without it", err=True)
    typer.echo(f"{config}: ok")


@app.command("discover")
def discover_command(
    url: str = typer.Argument(..., help="opc.tcp://host:port/path"),
    username: str | None = typer.Option(None),
    password: str | None = typer.Option(None, envvar="HEATLINK_OPCUA_PASSWORD",
                                        help="or the variable HEATLINK_OPCUA_PASSWORD"),
    policy: str = typer.Option("None", help="None, Basic256Sha256, Aes128Sha256RsaOaep, "
                               "Aes256Sha256RsaPss"),
    mode: str = typer.Option("None", help="None, Sign, SignAndEncrypt"),
    certificate: Path | None = typer.Option(None, help="the gateway's certificate"),
    private_key: Path | None = typer.Option(None),
    server_certificate: Path | None = typer.Option(None, help="pin the server's certificate"),
    application_uri: str = typer.Option("urn:heatlink:gateway"),
    include_boolean: bool = typer.Option(False, help="offer Boolean nodes too (the gateway "
                                         "stores numbers only)"),
    timeout_s: float = typer.Option(10.0, "--timeout-s"),
) -> None:
    """Browse an OPC UA server and print a starting gateway config."""
    from pydantic import ValidationError

    from gateway.config import OpcUaSecurity
    from gateway.discover import connection_settings, discover
    from gateway.logs import configure_logging

    configure_logging("WARNING")  # the config goes to stdout, nothing else
    try:
        security = OpcUaSecurity(policy=policy, mode=mode,
                                 certificate=certificate, private_key=private_key,
                                 server_certificate=server_certificate,
                                 application_uri=application_uri)
    except ValidationError as exc:
        typer.echo("; ".join(e["msg"] for e in exc.errors()), err=True)
        raise typer.Exit(2) from None
    try:
        text = asyncio.run(discover(url, username=username, password=password,
                                    security=security, timeout_s=timeout_s,
                                    include_boolean=include_boolean))
    except Exception as exc:  # any refusal or fault: one sentence, no traceback
        from gateway.opcua_security import describe_connect_error

        settings = connection_settings(url, security=security, username=username)
        typer.echo(describe_connect_error(exc, settings), err=True)
        raise typer.Exit(1) from None
    typer.echo(text, nl=False)


def _load(path: Path, *, secrets: bool) -> object:
    from gateway.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    unset = config.unset_secrets() if secrets else []
    if unset:
        # Starting anyway would connect without the secret, and the server's refusal would
        # blame the credentials.
        typer.echo("\n".join(f"{path}: {line}" for line in unset), err=True)
        raise typer.Exit(2)
    return config


def _run(path: Path) -> None:
    from gateway.config import GatewayConfig
    from gateway.runner import Gateway

    config = _load(path, secrets=True)
    assert isinstance(config, GatewayConfig)

    async def serve() -> None:
        gateway = Gateway(config)
        task = asyncio.create_task(gateway.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(serve())
    sys.stdout.flush()
