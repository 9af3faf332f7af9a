"""`heatlink gateway ...`: run the gateway from a config file, or discover an OPC UA server.

`heatlink gateway --config FILE` is short for `heatlink gateway run --config FILE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import typer

app = typer.Typer(help="The heatlink edge gateway: OPC UA and MQTT in, store and forward out.",
                  add_completion=False, invoke_without_command=True)

CONFIG_OPTION = typer.Option(None, "--config", "-c", help="gateway config file (YAML)")


@app.callback()
def main(ctx: typer.Context, config: Path | None = CONFIG_OPTION,
         log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING")) -> None:
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # asyncua logs every publish at INFO: far too much for an edge box's journal.
    logging.getLogger("asyncua").setLevel(max(logging.WARNING, logging.getLogger().level))
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
    """Check a config file and exit."""
    _load(config)
    typer.echo(f"{config}: ok")


@app.command()
def keygen(out: Path = typer.Option(..., "--out", "-o", help="private key file to create "
                                    "(mode 0600; an existing file is never overwritten)")
           ) -> None:
    """Create this gateway's key for signing its command results; print its public key."""
    from heatlink.signing import SigningKey

    key = SigningKey.generate()
    try:
        key.save(out)
    except FileExistsError:
        typer.echo(f"{out} exists; a key is never overwritten (choose another file to "
                   "rotate)", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out}: set it as control.signing_key of this gateway only.\n"
               "Public key, for the service's gateway keys file under this gateway's id "
               "(HEATLINK_CONTROL_GATEWAY_KEYS_FILE):")
    typer.echo(key.public_text)


@app.command()
def pubkey(key: Path = typer.Argument(..., help="a private key file")) -> None:
    """Print the public key of a private key file."""
    from heatlink.signing import KeyFileError, SigningKey

    try:
        typer.echo(SigningKey.load(key).public_text)
    except KeyFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command("discover")
def discover_command(
    url: str = typer.Argument(..., help="opc.tcp://host:port/path"),
    username: str | None = typer.Option(None),
    password: str | None = typer.Option(None, envvar="HEATLINK_OPCUA_PASSWORD"),
) -> None:
    """Browse an OPC UA server and print a starting gateway config."""
    from gateway.discover import discover

    try:
        text = asyncio.run(discover(url, username=username, password=password))
    except (OSError, TimeoutError) as exc:
        typer.echo(f"cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(text, nl=False)


@app.command("cert")
def cert_command(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="make the certificate every secure OPC UA source of "
        "this config names, with its application_uri"),
    application_uri: str = typer.Option("urn:heatlink:gateway", help="without --config"),
    certificate: Path = typer.Option(Path("pki/own/certs/gateway.der"), help="without --config"),
    private_key: Path = typer.Option(Path("pki/own/private/gateway.pem"),
                                     help="without --config"),
    hostname: str | None = typer.Option(None, help="DNS name in the certificate; default "
                                        "this host's name"),
    days: int = typer.Option(730, min=1, help="how long it is valid"),
    force: bool = typer.Option(False, help="replace certificates that exist"),
) -> None:
    """Make the gateway's OPC UA application certificate and key, and say what to do
    with them."""
    from gateway.config import GatewayConfig, OpcUaSourceConfig
    from gateway.opcua_certs import make_application_certificate
    from gateway.opcua_trust import fingerprint, load_certificate

    wanted = {(certificate, private_key): application_uri}
    if config is not None:
        loaded = _load(config)
        assert isinstance(loaded, GatewayConfig)
        wanted = {(s.security.certificate, s.security.private_key): s.security.application_uri
                  for s in loaded.sources
                  if isinstance(s, OpcUaSourceConfig) and s.security.certificate is not None
                  and s.security.private_key is not None}
        if not wanted:
            typer.echo(f"{config}: no OPC UA source with a secure policy names a certificate",
                       err=True)
            raise typer.Exit(2)
    for (cert_path, key_path), uri in wanted.items():
        if cert_path.exists() and not force:
            typer.echo(f"{cert_path}: exists (SHA-256 {fingerprint(load_certificate(cert_path))})"
                       "; --force makes a new one")
            continue
        made = make_application_certificate(cert_path, key_path, uri, hostname=hostname,
                                            days=days)
        typer.echo(f"{made.certificate}: application URI {made.application_uri}, SHA-256 "
                   f"{made.fingerprint}\n{made.private_key}: its private key (mode 0600)\n"
                   f"Add {made.certificate} to each OPC UA server's trusted certificates, and "
                   "put each server's certificate into the gateway's trust list "
                   "(security.trusted_certificates, default pki/trusted/certs).")


def _load(path: Path) -> object:
    from gateway.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _run(path: Path) -> None:
    from gateway.config import GatewayConfig
    from gateway.runner import Gateway

    config = _load(path)
    assert isinstance(config, GatewayConfig)

    from gateway.control_state import ControlStateError
    from heatlink.signing import KeyFileError

    async def serve() -> None:
        try:
            gateway = Gateway(config)
        except (KeyFileError, ControlStateError) as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        task = asyncio.create_task(gateway.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(serve())
    sys.stdout.flush()
