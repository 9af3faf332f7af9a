"""`heatlink control keygen|pubkey`: the service's key for signing setpoint commands."""

from __future__ import annotations

from pathlib import Path

import typer

from heatlink import key_cli

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Keys of the control channel (see README, 'Keys of the control "
                       "channel').")


@app.command()
def keygen(out: Path = typer.Option(..., "--out", "-o", help="private key file to create "
                                    "(mode 0600; an existing file is never overwritten)")
           ) -> None:
    """Create the service's key for signing commands; print its public key."""
    key_cli.keygen(out, "point HEATLINK_CONTROL_SIGNING_KEY_FILE at it.\n"
                   "Public key, for control.trusted_keys of every gateway that writes:")


@app.command()
def pubkey(key: Path = typer.Argument(..., help="a private key file")) -> None:
    """Print the public key of a private key file."""
    key_cli.pubkey(key)
