"""The `keygen` and `pubkey` subcommands of the gateway and of control: one Ed25519 key
file each side, created once and never overwritten."""

from __future__ import annotations

from pathlib import Path

import typer

from heatlink.signing import KeyFileError, SigningKey


def keygen(out: Path, where_it_goes: str) -> None:
    """Create a private key in ``out`` (mode 0600) and print its public key after
    ``where_it_goes``, which tells the user what to do with each half."""
    key = SigningKey.generate()
    try:
        key.save(out)
    except FileExistsError:
        typer.echo(f"{out} exists; a key is never overwritten (choose another file to "
                   "rotate)", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out}: {where_it_goes}")
    typer.echo(key.public_text)


def pubkey(key: Path) -> None:
    """Print the public key of a private key file."""
    try:
        typer.echo(SigningKey.load(key).public_text)
    except KeyFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
