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


@app.command()
def keygen(out: Path = typer.Option(..., "--out", "-o", help="private key file to create "
                                    "(mode 0600; an existing file is never overwritten)")
           ) -> None:
    """Create this gateway's key for signing its command results; print its public key."""
    from heatlink import key_cli

    key_cli.keygen(out, "set it as control.signing_key of this gateway only.\n"
                   "Public key, for the service's gateway keys file under this gateway's id "
                   "(HEATLINK_CONTROL_GATEWAY_KEYS_FILE):")


@app.command()
def pubkey(key: Path = typer.Argument(..., help="a private key file")) -> None:
    """Print the public key of a private key file."""
    from heatlink import key_cli

    key_cli.pubkey(key)


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
    trusted_certificates: Path = typer.Option(Path("pki/trusted/certs"),
                                              help="the trust list, as the source's"),
    rejected_certificates: Path = typer.Option(Path("pki/rejected/certs"), help="where a "
                                               "refused server certificate is saved"),
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
                                 trusted_certificates=trusted_certificates,
                                 rejected_certificates=rejected_certificates,
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
        loaded = _load(config, secrets=False)
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
    from gateway.runner import Gateway, tune_process

    config = _load(path, secrets=True)
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

    tune_process()
    asyncio.run(serve())
    sys.stdout.flush()
