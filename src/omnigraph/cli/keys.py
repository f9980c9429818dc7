"""``omnigraph keys create | list | revoke``: API keys, managed against the service's database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from omnigraph.db.oneshot import with_database
from omnigraph.security import api_keys
from omnigraph.security.principal import Role

__all__ = ["keys_app"]

keys_app = typer.Typer(help="API keys (bearer tokens) and their roles.")


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Who holds the key, as the audit trail names it.")],
    role: Annotated[list[Role], typer.Option(help="A role; repeat for several.")],
    channel: Annotated[
        str | None, typer.Option(help="For storefront keys: the sales channel it speaks for.")
    ] = None,
) -> None:
    """Create a key and print it once; only its digest is stored."""
    issued = with_database(
        lambda sessions: api_keys.create_key(
            sessions, name=name, roles=frozenset(role), channel=channel, now=datetime.now(UTC)
        )
    )
    typer.echo(issued.secret)
    typer.echo(
        f"key {issued.row.prefix} for {name} ({', '.join(issued.row.roles)}); "
        "store it now: it cannot be shown again",
        err=True,
    )


@keys_app.command("list")
def list_keys() -> None:
    """Every key with its roles and state (never the secret)."""
    rows = with_database(api_keys.list_keys)
    for row in rows:
        state = "revoked " + row.revoked_at.isoformat() if row.revoked_at else "live"
        channel = f" channel={row.channel}" if row.channel else ""
        typer.echo(f"{row.prefix}  {row.name}  {','.join(row.roles)}{channel}  {state}")
    if not rows:
        typer.echo("no API keys: create one with `omnigraph keys create --name NAME --role ROLE`")


@keys_app.command("revoke")
def revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix, as `list` shows.")],
) -> None:
    """Revoke a key; the service stops accepting it within OMNIGRAPH_AUTH_CACHE_SECONDS."""
    revoked = with_database(
        lambda sessions: api_keys.revoke_key(sessions, prefix, now=datetime.now(UTC))
    )
    if not revoked:
        typer.echo(f"no live key {prefix}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {prefix}")
