"""``omnigraph operations register FILE | list``: the documents clients may ask for by hash."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.errors import ConfigurationError
from omnigraph.settings import Settings
from omnigraph.trusted_documents import store

__all__ = ["operations_app"]

operations_app = typer.Typer(
    help="Trusted documents: register the operations clients may run by hash."
)
T = TypeVar("T")


def _with_database(work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database

    async def run() -> T:
        engine = create_engine(Settings().database_url)
        try:
            await upgrade_database(engine)
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@operations_app.command("register")
def register(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .graphql file of named operations, or a JSON manifest {sha256: document}."
        ),
    ],
) -> None:
    """Register operations as trusted; print each one's hash, the id clients send."""
    from omnigraph.schema.build import build_schema
    from omnigraph.trusted_documents.manifest import read_operations

    try:
        documents = read_operations(file, build_schema()._schema)
    except ConfigurationError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    outcomes = _with_database(
        lambda sessions: store.register_documents(sessions, documents, now=datetime.now(UTC))
    )
    for item, outcome in outcomes:
        typer.echo(f"{item.sha256}  {item.name or '-'}  {outcome}")


@operations_app.command("list")
def list_operations() -> None:
    """Every known document: hash, operation name, registered or learnt by APQ."""
    for row in _with_database(store.list_documents):
        state = "registered" if row.trusted else "apq"
        typer.echo(f"{row.sha256}  {row.operation_name or '-'}  {state}")
