"""``omnigraph documents register FILE | list``: the documents clients may ask for by hash."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from omnigraph.core.errors import ConfigurationError
from omnigraph.db.oneshot import with_database
from omnigraph.security import document_store as store

__all__ = ["documents_app"]

documents_app = typer.Typer(
    help="Trusted documents: register the documents clients may run by hash."
)


@documents_app.command("register")
def register(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .graphql file of named operations, or a JSON manifest {sha256: document}."
        ),
    ],
) -> None:
    """Register operations as trusted; print each one's hash, the id clients send."""
    from omnigraph.api.schema import build_schema
    from omnigraph.graph.overrides import graphql_schema
    from omnigraph.security.document_manifest import read_operations

    try:
        documents = read_operations(file, graphql_schema(build_schema()))
    except ConfigurationError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    outcomes = with_database(
        lambda sessions: store.register_documents(sessions, documents, now=datetime.now(UTC))
    )
    for item, outcome in outcomes:
        typer.echo(f"{item.sha256}  {item.name or '-'}  {outcome}")


@documents_app.command("list")
def list_documents() -> None:
    """Every known document: hash, operation name, registered or learnt by APQ."""
    rows = with_database(store.list_documents)
    for row in rows:
        state = "registered" if row.trusted else "apq"
        typer.echo(f"{row.sha256}  {row.operation_name or '-'}  {state}")
    if not rows:
        typer.echo("no documents: register operations with `omnigraph documents register FILE`")
