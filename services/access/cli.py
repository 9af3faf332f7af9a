"""`heatlink token`: create, list and revoke API tokens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import typer

from heatlink.clock import SystemClock
from services.access.principal import Role, Scope
from services.access.tokens import TokenStore
from services.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="API tokens. The secret is printed once, at creation.")


def _url() -> str:
    url = Settings().database_url
    if not url:
        typer.echo("HEATLINK_DATABASE_URL is not set", err=True)
        raise typer.Exit(2)
    return url


@app.command()
def create(
    org: str = typer.Option(..., help="Organisation the token belongs to"),
    role: Role = typer.Option(..., help="Role of the holder"),
    name: str = typer.Option(..., help="What the token is for, e.g. 'SCADA link'"),
    gateway: str | None = typer.Option(None, help="Gateway id, for role gateway"),
    scope: list[Scope] = typer.Option(None, help="Scopes; default follows the role"),
    days: int | None = typer.Option(365, help="Days until it expires; 0 for never"),
) -> None:
    """Create a token and print its secret (shown only now)."""
    if role == Role.GATEWAY and not gateway:
        typer.echo("a gateway token needs --gateway: it writes only that gateway's series",
                   err=True)
        raise typer.Exit(2)

    async def run() -> str:
        pool = await asyncpg.create_pool(_url(), min_size=1, max_size=1)
        try:
            expires = datetime.now(UTC) + timedelta(days=days) if days else None
            token, _ = await TokenStore(pool, SystemClock()).create(
                name=name, org=org, role=role, scopes=scope or None, gateway=gateway,
                expires_at=expires)
            return token
        finally:
            await pool.close()
    typer.echo(asyncio.run(run()))


@app.command(name="list")
def list_tokens(org: str | None = typer.Option(None)) -> None:
    """List tokens (never their secrets)."""
    async def run() -> None:
        pool = await asyncpg.create_pool(_url(), min_size=1, max_size=1)
        try:
            for r in await TokenStore(pool, SystemClock()).list(org):
                state = "revoked" if r["revoked_at"] else "active"
                typer.echo(f"{r['id']}\t{r['org']}\t{r['role']}\t{','.join(r['scopes'])}\t"
                           f"{r['name']}\t{state}\texpires {r['expires_at'] or 'never'}")
        finally:
            await pool.close()
    asyncio.run(run())


@app.command()
def revoke(token_id: int) -> None:
    """Revoke a token by id; it stops working within the token cache time."""
    async def run() -> bool:
        pool = await asyncpg.create_pool(_url(), min_size=1, max_size=1)
        try:
            return await TokenStore(pool, SystemClock()).revoke(token_id)
        finally:
            await pool.close()
    if not asyncio.run(run()):
        typer.echo(f"no active token {token_id}", err=True)
        raise typer.Exit(1)
