"""`heatlink user`: create, list, disable and set the password of people who log in."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import typer

from heatlink.clock import SystemClock
from services.access.principal import PERSON_ROLES, Role
from services.access.users import UserError, UserStore
from services.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="People who log in to the dashboard (machines use `heatlink token`).")
T = TypeVar("T")


def _with_store(work: Callable[[UserStore], Awaitable[T]]) -> T:
    url = Settings().database_url
    if not url:
        typer.echo("HEATLINK_DATABASE_URL is not set", err=True)
        raise typer.Exit(2)

    async def run() -> T:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        try:
            return await work(UserStore(pool, SystemClock()))
        finally:
            await pool.close()
    try:
        return asyncio.run(run())
    except UserError as why:
        typer.echo(str(why), err=True)
        raise typer.Exit(2) from None


def _password(given: str | None) -> str:
    # Asked for twice without echo, unless given (scripts: --password-stdin is safer than
    # an argument, which other users of the machine see in the process list).
    if given is not None:
        return given
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command()
def create(
    username: str = typer.Argument(..., help="Unique in the cluster, e.g. anna.fjordsmolt"),
    org: str = typer.Option(..., help="Organisation the person works for"),
    role: Role = typer.Option(..., help="operator, recipient, integrator, facilitator "
                              "or admin"),
    name: str = typer.Option("", help="Display name"),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input"),
) -> None:
    """Create a user; the password is asked for (at least 12 characters)."""
    if role not in PERSON_ROLES:
        typer.echo(f"role {role} is for machines: use `heatlink token create`", err=True)
        raise typer.Exit(2)
    password = _password(input() if password_stdin else None)
    user = _with_store(lambda s: s.create(username=username, org=org, role=role,
                                          password=password, display_name=name))
    typer.echo(f"created user {user.username} ({user.org}, {user.role})")


@app.command(name="list")
def list_users(org: str | None = typer.Option(None)) -> None:
    """List users (never their passwords)."""
    for u in _with_store(lambda s: s.list(org)):
        state = f"disabled {u.disabled_at:%Y-%m-%d}" if u.disabled_at else "active"
        typer.echo(f"{u.username}\t{u.org}\t{u.role}\t{state}\t{u.display_name}")


@app.command()
def disable(username: str) -> None:
    """Disable a user: its sessions end and it can no longer log in."""
    if not _with_store(lambda s: s.disable(username)):
        typer.echo(f"no active user {username}", err=True)
        raise typer.Exit(1)
    typer.echo(f"disabled {username}")


@app.command()
def passwd(username: str,
           password_stdin: bool = typer.Option(False, help="Read it from standard input")
           ) -> None:
    """Set a user's password; its sessions end."""
    password = _password(input() if password_stdin else None)
    if not _with_store(lambda s: s.set_password(username, password)):
        typer.echo(f"no user {username}", err=True)
        raise typer.Exit(1)
    typer.echo(f"new password set for {username}; its sessions have ended")
